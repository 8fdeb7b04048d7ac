// The merge of partial attention results by their log-sum-exp, the one used wherever the
// keys of a row were split (decode's chunks, the Hopper kernel's tail split, ring
// attention's blocks; Milakov & Gimelshein 2018, flash-decoding, Liu et al. 2023): partial s
// saw keys K_s and gave o_s = its softmax-weighted values over K_s and lse_s = log of its
// sum of e^score; over the union
//
//   lse = log sum_s e^{lse_s},    o = sum_s e^{lse_s - lse} o_s
//
// computed as M = max_s lse_s, w_s = e^{lse_s - M}: o = sum_s w_s o_s / sum_s w_s and
// lse = M + log sum_s w_s. A partial that saw no key has lse_s = -inf and weight 0; a row no
// partial saw gives o = 0 and lse = -inf (never NaN).
#pragma once

#include <math.h>

namespace lc_cuda {

// One element o of a row over n partials: lse_of(s) and o_of(s) give partial s's lse_s and
// o_s (each read twice: callers pass loads, not work); *lse gets the row's lse. BASE2: the
// lse are log2 (2^x and log2) instead of natural.
template <bool BASE2, typename LSE, typename O>
__device__ __forceinline__ float lse_merge(int n, LSE lse_of, O o_of, float *lse) {
    float M = -INFINITY;
    for (int s = 0; s < n; s++) M = fmaxf(M, lse_of(s));
    float wsum = 0.f, acc = 0.f;
    if (M != -INFINITY)
        for (int s = 0; s < n; s++) {
            const float w = BASE2 ? exp2f(lse_of(s) - M) : expf(lse_of(s) - M);
            wsum += w, acc += w * o_of(s);
        }
    *lse = wsum > 0.f ? M + (BASE2 ? log2f(wsum) : logf(wsum)) : -INFINITY;
    return wsum > 0.f ? acc / wsum : 0.f;
}

}  // namespace lc_cuda
