// What the GPU linear-attention kernels share (linear_chunk.cu, linear_step.cu): the per-head
// log-decays as a kernel argument, and the check of what the GPU takes.
#pragma once

#include "longctx/cuda.h"

namespace lc_cuda {

// log g per head (0 without a decay): the host array `decay` read at the call, passed by value.
struct lin_decay {
    float log_g[LC_CUDA_LINEAR_MAX_HEADS];
};
lin_decay make_lin_decay(const lc_linear_attention *a);

// The largest feature count (F) and d_v the GPU forms take.
constexpr int LIN_MAX_WIDTH = 4096;

}  // namespace lc_cuda
