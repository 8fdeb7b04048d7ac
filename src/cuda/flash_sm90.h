// The Hopper (sm_90a, wgmma) flash forward kernel, flash_fwd_sm90.cu, as flash_fwd.cu's
// lc_cuda_attention_flash dispatches to it.
#pragma once

#include <cuda_runtime.h>

#include "check.h"

namespace lc_cuda {

// True when the current device is compute capability 9.0 and (d_k, d_v) is (64, 64) or
// (128, 128): the shapes the wgmma kernel has.
bool flash_sm90_covers(int dk, int dv);

// Which block the kernel runs (LONGCTX_CUDA_FLASH's values; auto: the fastest on an H100
// for the shape, bench/results/gpu_NOTES.md v4-v6): warpgroups of 64 query rows issuing
// their own copies (wg1: one, wg2: two), or consumer warpgroups fed by a producer
// warpgroup (ws: two; ws3: three, at d = 64 without soft-capping, else as ws; ws176: two on
// 176-key tiles, at d = 128 without soft-capping, else as ws; ws176 and ws3, auto's too, run
// in clusters of 2 blocks sharing K / V copies where the mask and the tile count allow,
// LONGCTX_CUDA_FLASH_CLUSTER=0 turns that off).
enum sm90_block { SM90_AUTO, SM90_WG1, SM90_WG2, SM90_WS, SM90_WS3, SM90_WS176 };

// Launches it on checked parameters (bitmap already on the device): q, k, v in f16 (else
// bf16), out in f32 or q's dtype. cudaErrorNotSupported, before any launch, when the driver
// cannot describe k or v to the copy engine (a tensor map): the caller falls back.
// ws: device memory for the tail split (flash_fwd_sm90.cu, plan_tail), at least
// flash_fwd_sm90_workspace bytes; with less (or NULL) the grid runs unsplit.
cudaError_t flash_fwd_sm90(const attn_params &p, int batch, int heads_kv, int d, sm90_block blk, bool f16, bool f32_out, cudaStream_t s, void *ws,
                           size_t ws_bytes);
size_t flash_fwd_sm90_workspace(const attn_params &p, int batch, int d, sm90_block blk, bool f16, bool f32_out);

}  // namespace lc_cuda
