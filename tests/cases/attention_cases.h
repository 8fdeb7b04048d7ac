/* The attention cases: one table of shapes, masks, dtypes and tolerances, read by
 *   tests/test_attention.c            CPU flash against the float64 reference
 *   tests/cuda/test_gpu_attention.cu  the CUDA kernels against the same reference
 *   bench/attention_bench.c           CPU flash and naive against the sgemm ceiling
 *   bench/cuda/gpu_attention.cu       the CUDA kernels against the cuBLAS GEMM ceiling
 * A new case is one entry in attention_cases.c with the groups that run it. */
#ifndef LONGCTX_ATTENTION_CASES_H
#define LONGCTX_ATTENTION_CASES_H

#include "cases.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Who runs a case, and which part of the program runs it. */
enum {
    ATTN_CPU_NAMED = 1 << 0,       /* test_attention: each case on its own (the ISA the CPU picks) */
    ATTN_CPU_DETERMINISM = 1 << 1, /* test_attention: the same call on 1, 2 and 3 threads, bitwise equal */
    ATTN_GPU_GRID = 1 << 2,        /* test_gpu_attention: once per kernel (each Hopper block, its tail splits, mma.sync) */
    ATTN_GPU_CLUSTERS = 1 << 3,    /* test_gpu_attention: the Hopper blocks in clusters of 2, per head dim, per tail split */
    ATTN_GPU_UNCLUSTERED = 1 << 4, /* test_gpu_attention: the same blocks with clusters off */
    ATTN_GPU_PLANNED = 1 << 5,     /* test_gpu_attention: the public entry point, planned kernel */
    ATTN_GPU_SM90 = 1 << 6,        /* test_gpu_attention: the Hopper path asked for by name */
    ATTN_BENCH_CPU = 1 << 7,       /* attention_bench: the grid (flash; naive too up to --naive-max) */
    ATTN_BENCH_CPU_WINDOW = 1 << 8,/* attention_bench: the sliding-window pair whose time growth it prints */
    ATTN_BENCH_CPU_BIG = 1 << 9,   /* attention_bench: the 128K case whose peak memory it prints (off with --no-128k) */
    ATTN_BENCH_GPU = 1 << 10,      /* gpu_attention: every case, each also on the mma.sync kernel */
};

typedef enum attn_mask_kind {
    ATTN_FULL,          /* every key */
    ATTN_CAUSAL,        /* key j <= q_offset + i */
    ATTN_SLIDING,       /* lc_mask_sliding_window(window): causal, the last `window` keys */
    ATTN_BAND,          /* not causal: keys i - window .. i + right */
    ATTN_BITMAP_HALF,   /* 2 x 2 blocks of 16: the first 16 queries see nothing, the rest all */
    ATTN_BITMAP_SPARSE, /* 16 x 16 blocks of 64, a third of them visible, in diagonals; not causal */
    ATTN_RANDOM,        /* drawn by the test: tests/random_mask.h kind `window` */
} attn_mask_kind;

/* Tensor layouts of the CPU test (the GPU programs run BSHD). */
enum { ATTN_BSHD = 0, ATTN_BHSD = 1, ATTN_PADDED = 2 /* dims at stride 2, rows padded by 3 */ };

typedef struct attn_case {
    char name[64];
    unsigned groups, levels;
    int64_t batch, n_q, n_kv, hq, hkv, dk, dv;
    lc_dtype tq, tk, tv, tout;
    int layout;
    attn_mask_kind mask;
    int64_t window, right; /* ATTN_SLIDING, ATTN_BAND; ATTN_RANDOM: window is the kind */
    int64_t sinks, q_offset;
    float scale, softcap;  /* scale 0: 1 / sqrt(dk) */
    int threads;           /* CPU threads (0: the program's) */
} attn_case;

/* The cases of any of `groups` at `level` (one of CASE_FULL, CASE_QUICK, CASE_SMOKE) in
 * the table's order, axes replacing the benchmark grids' lengths and head dims (NULL: the
 * table's). Returns a malloc'd array (free it) of *count cases; NULL on no memory. */
attn_case *attn_cases_select(unsigned groups, int level, const case_axes *axes, int *count);

/* The case's mask (bitmaps point into the table's static storage). ATTN_RANDOM cases are
 * drawn by their test and get lc_mask_full() here. */
lc_mask attn_case_mask(const attn_case *c);

/* A case of test_attention's random grid, drawn from (seed, *counter): batch 1-2; lengths
 * of 1, up to 17, around the 128-query and 256-key tiles or anything up to 400, n_kv =
 * n_q two times in three; GQA 1..4 over 1-2 KV heads; head dims 32 to 256, dv = dk three
 * times in four; every dtype for each tensor; every layout; scale and soft-capping a
 * quarter of the time each; 1-3 threads. The test draws a mask of kind `mask_kind` for it
 * (tests/random_mask.h), ATTN_RANDOM_REPS cases per kind, on every vector path. */
enum { ATTN_RANDOM_REPS = 3 };
attn_case attn_case_random(int mask_kind, uint64_t seed, uint64_t *counter);

/* How close a backend's output must be to the float64 reference. */
typedef struct attn_tolerance {
    double out_abs, out_rel; /* per element: |got - want| <= out_abs + (out_rel + case_rounding(tout)) |want| */
    double out_norm;         /* max |got - want| / max |want| <= out_norm */
    double lse_abs, lse_rel; /* per row: |lse - want| <= lse_abs + lse_rel |want|; -inf where the row sees no key */
} attn_tolerance;
/* The CPU's (per element) and the GPU's (over the whole output, which is bf16 / f16). */
const attn_tolerance *attn_tolerance_cpu(const attn_case *c);
const attn_tolerance *attn_tolerance_gpu(const attn_case *c);

/* "causal", "full", "window 4096", ...: the mask's name in a benchmark's table. */
const char *attn_case_mask_name(const attn_case *c, char *buf, int n);

#ifdef __cplusplus
}
#endif
#endif
