/* The linear-attention cases: one table of shapes, feature maps, decays, chunk sizes, the
 * split of a sequence over calls, and tolerances, read by
 *   tests/cuda/test_gpu_linear.cu  GPU prefill and step against the float64 reference
 *   bench/cuda/gpu_linear.cu       GPU prefill against the device copy bandwidth
 * and readable by the CPU test (tests/test_linear.c draws its own today). A new case is one
 * entry in linear_cases.c with the groups that run it. */
#ifndef LONGCTX_LINEAR_CASES_H
#define LONGCTX_LINEAR_CASES_H

#include "cases.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LINEAR_GPU_RANDOM = 1 << 0, /* test_gpu_linear: linear_case_random_gpu, linear_gpu_trials(level) of them */
    LINEAR_GPU_FIXED = 1 << 1,  /* test_gpu_linear: long sequences, wide heads, FAVOR+ max-shift */
    LINEAR_BENCH_GPU = 1 << 2,  /* gpu_linear: B = 1, 16 heads, d = 128, 4K / 16K / 64K tokens */
};

typedef struct linear_case {
    char name[64];
    unsigned groups, levels;
    int64_t batch, n, heads, dk, dv;
    lc_feature_map feature;
    int64_t features;   /* FAVOR+: m; otherwise 0 */
    int64_t chunk;      /* lc_linear_attention.chunk (0: 64) */
    int causal, normalize, decay;
    int layout;         /* 0: BSHD tensors, 1: BHSD */
    float in_scale;     /* q and k are N(0, in_scale^2) */
    /* causal: the sequence runs as a prefill of tokens [0, split1) from a zero state, a prefill
     * of [split1, split2) continuing it, then recurrent steps (one token, then the rest in one
     * call); split1 = split2 = n: one prefill */
    int64_t split1, split2;
    double tol;         /* max |got - want| <= tol (rms(want) + |want|), outputs and states */
} linear_case;

linear_case *linear_cases_select(unsigned groups, int level, const case_axes *axes, int *count);

int linear_gpu_trials(int level);
linear_case linear_case_random_gpu(int trial, uint64_t seed, uint64_t *counter);

#ifdef __cplusplus
}
#endif
#endif
