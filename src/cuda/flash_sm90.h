// The Hopper (sm_90a, wgmma) flash forward kernel, flash_fwd_sm90.cu, as flash_fwd.cu's
// lc_cuda_attention_flash dispatches to it.
#pragma once

#include <cuda_runtime.h>

#include "check.h"
#include "longctx/cuda.h"

namespace lc_cuda {

// True when the current device is compute capability 9.0 and (d_k, d_v) is (64, 64) or
// (128, 128): the shapes the wgmma kernel has.
bool flash_sm90_covers(int dk, int dv);

// The kernel's blocks: consumer warpgroups of 64 query rows fed by a producer warpgroup (ws:
// two, on 128-key tiles; ws3: three, at d = 64 without soft-capping, else as ws; ws176:
// two on 176-key tiles, at d = 128 without soft-capping, else as ws). ws176 and ws3 run in
// clusters of 2 blocks sharing K / V copies where the mask and the tile count allow.
enum sm90_block { SM90_AUTO, SM90_WS, SM90_WS3, SM90_WS176 };

// What a launch runs. Zeroed, the plan (plan_sm90 and plan_tail in flash_fwd_sm90.cu)
// chooses everything; the GPU test sets fields to run each block, clusters off, and the
// tail split on shapes too small to ask for it.
struct sm90_request {
    sm90_block block;             // SM90_AUTO: planned
    bool no_clusters;             // run the blocks unclustered
    int tail_tiles, tail_splits;  // > 0: the last tail_tiles work tiles in tail_splits key ranges each
};

// Launches it on checked parameters (bitmap already on the device): q, k, v in f16 (else
// bf16), out in f32 or q's dtype. cudaErrorNotSupported, before any launch, when the driver
// cannot describe k or v to the copy engine (a tensor map): the caller falls back.
// ws: device memory for the tail split (flash_fwd_sm90.cu, plan_tail), at least
// flash_fwd_sm90_workspace bytes; with less (or NULL) the grid runs unsplit.
cudaError_t flash_fwd_sm90(const attn_params &p, int batch, int heads_kv, int d, const sm90_request &req, bool f16, bool f32_out, cudaStream_t s, void *ws,
                           size_t ws_bytes);
size_t flash_fwd_sm90_workspace(const attn_params &p, int batch, int d, const sm90_request &req, bool f16, bool f32_out);

// lc_cuda_attention_workspace_size and lc_cuda_attention_flash_path with a request for the
// Hopper kernel (white-box: tests/cuda/test_gpu_attention.cu).
size_t attention_workspace(const lc_attention *a, const sm90_request &req);
lc_status attention_flash(const lc_attention *a, lc_cuda_path path, const sm90_request &req, void *workspace, size_t workspace_bytes, cudaStream_t s);

}  // namespace lc_cuda
