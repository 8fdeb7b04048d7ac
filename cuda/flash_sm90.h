// The Hopper (sm_90a, wgmma) flash forward kernel, flash_fwd_sm90.cu, as flash_fwd.cu's
// lc_cuda_attention_flash dispatches to it.
#pragma once

#include <cuda_runtime.h>

#include "check.h"

namespace lc_cuda {

// True when the current device is compute capability 9.0 and (d_k, d_v) is (64, 64) or
// (128, 128): the shapes the wgmma kernel has.
bool flash_sm90_covers(int dk, int dv);

// Launches it on checked parameters (bitmap already on the device): q, k, v in f16 (else
// bf16), out in f32 or q's dtype; nwg warpgroups (1 or 2, or 3: 2 and a producer, 4: 3 and a
// producer at d = 64, 5: 3 on 176-key tiles at d = 128; 0: 5, 4 or 3 by shape) of 64 query
// rows per block. cudaErrorNotSupported,
// before any launch, when the driver cannot describe k or v to the copy engine (a tensor
// map): the caller falls back.
cudaError_t flash_fwd_sm90(const attn_params &p, int batch, int heads_kv, int d, int nwg, bool f16, bool f32_out, cudaStream_t s);

}  // namespace lc_cuda
