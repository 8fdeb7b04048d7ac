/* The state-space cases: one table of Mamba selective-scan, Mamba-2 SSD and causal conv1d
 * shapes, the split of a sequence over calls, and tolerances, read by
 *   tests/cuda/test_gpu_ssm.cu   GPU scan, SSD (chunked and step) and conv1d against the
 *                                float64 references (and the CPU conv1d)
 *   bench/cuda/gpu_linear.cu     GPU SSD and scan against the device copy bandwidth
 * and readable by the CPU test (tests/test_ssm.c draws its own today). */
#ifndef LONGCTX_SSM_CASES_H
#define LONGCTX_SSM_CASES_H

#include "cases.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SSM_GPU_RANDOM = 1 << 0, /* test_gpu_ssm: ssm_case_random_gpu, ssm_gpu_trials(level) of them */
    SSM_GPU_FIXED = 1 << 1,  /* test_gpu_ssm: long sequences, wide heads, extreme dt, big chunks */
    SSM_BENCH_GPU = 1 << 2,  /* gpu_linear: B = 1, 4K / 16K / 64K tokens */
};

typedef enum ssm_kind { SSM_SCAN = 0, SSM_SSD = 1, SSM_CONV = 2 } ssm_kind;

typedef struct ssm_case {
    char name[64];
    unsigned groups, levels;
    ssm_kind kind;
    int64_t batch, n;
    int64_t channels;       /* scan: channels; conv: channels */
    int64_t heads, head_dim, bc_groups; /* SSD */
    int64_t state;          /* scan and SSD */
    int64_t chunk;          /* SSD: lc_ssd.chunk (0: 64) */
    int64_t kernel, stride_pad; /* conv: K; x and y rows are channels + stride_pad floats apart */
    int bias, D, z, clamp;  /* dt_bias (conv: bias), D, the z gate (scan), the dt clamp (SSD) */
    float dt_mean;          /* dt_raw ~ N(dt_mean, 1) */
    /* the sequence runs as a call on tokens [0, split1) from a random state, a call on
     * [split1, split2) continuing it, then (SSD: lc_cuda_ssd_step; scan, conv: the same
     * call) one token, then the rest; split1 = split2 = n: one call */
    int64_t split1, split2;
    double tol;             /* max |got - want| <= tol (rms(want) + |want|), outputs and states */
} ssm_case;

ssm_case *ssm_cases_select(unsigned groups, int level, const case_axes *axes, int *count);

int ssm_gpu_trials(int level);
ssm_case ssm_case_random_gpu(int trial, uint64_t seed, uint64_t *counter);

#ifdef __cplusplus
}
#endif
#endif
