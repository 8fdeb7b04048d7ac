// What the CUDA kernels accept, shared by flash_fwd.cu and decode.cu (host code).
#pragma once

#include "longctx/attention.h"
#include "mask_device.cuh"

namespace lc_cuda {

// lc_attention_check, then the GPU's own limits: bf16/f16 q, k, v of one dtype, out in that
// dtype or f32, unit dim stride, 16-byte aligned rows, positions below 2^30, and masks made
// of causal, window (no dilation), sinks and a block bitmap.
lc_status check_common(const lc_attention *a);

// The device form of a checked mask; `bits` is the bitmap's device copy or NULL.
device_mask make_device_mask(const lc_mask *m, const uint8_t *bits);

}  // namespace lc_cuda
