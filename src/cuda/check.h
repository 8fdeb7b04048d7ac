// What the CUDA kernels accept and the parameters they receive, shared by flash_fwd.cu
// and decode.cu.
#pragma once

#include "longctx/attention.h"
#include "mask_device.cuh"

namespace lc_cuda {

// lc_attention_check, then the GPU's own limits: bf16/f16 q, k, v of one dtype, out in that
// dtype or f32, unit dim stride, 16-byte aligned rows, positions below 2^30, and masks made
// of causal, window (no dilation), sinks and a block bitmap.
lc_status check_common(const lc_attention *a);

// The current device can run the kernels (compute capability 8.0 or newer).
lc_status check_device(void);

// The device form of a checked mask; `bits` is the bitmap's device copy or NULL.
device_mask make_device_mask(const lc_mask *m, const uint8_t *bits);

// A checked descriptor as the kernels take it (by value, as a kernel parameter).
struct attn_params {
    const void *q, *k, *v;
    void *out;
    float *lse;
    int64_t q_b, q_s, q_h;  // strides in elements (batch, seq, head); the dim stride is 1
    int64_t k_b, k_s, k_h;
    int64_t v_b, v_s, v_h;
    int64_t o_b, o_s, o_h;
    int n_q, n_kv, heads_q, group;  // group = heads_q / heads_kv
    float scale, scale_log2, softcap;
    device_mask mask;  // bits NULL: the caller sets its device copy
};
attn_params make_attn_params(const lc_attention *a);

}  // namespace lc_cuda
