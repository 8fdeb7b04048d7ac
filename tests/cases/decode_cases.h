/* The decode cases: one table of cache layouts, shapes, masks, dtypes and tolerances, read by
 *   tests/test_kv_cache.c          CPU decode (lc_decode_attention) against the float64 reference
 *   tests/cuda/test_gpu_decode.cu  GPU decode (lc_cuda_decode_attention) against the same
 *   bench/decode_bench.c           CPU decode against memcpy bandwidth
 *   bench/cuda/gpu_decode.cu       GPU decode against the device copy bandwidth
 * A new case is one entry in decode_cases.c with the groups that run it. */
#ifndef LONGCTX_DECODE_CASES_H
#define LONGCTX_DECODE_CASES_H

#include "cases.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Who runs a case, and which part of the program runs it. */
enum {
    DECODE_CPU_RANDOM = 1 << 0,      /* test_kv_cache: decode_case_random_cpu, DECODE_CPU_TRIALS of them */
    DECODE_GPU_RANDOM = 1 << 1,      /* test_gpu_decode: decode_case_random_gpu, decode_gpu_trials(level) of them */
    DECODE_GPU_FIXED = 1 << 2,       /* test_gpu_decode: the grid over a contiguous tensor and the long caches */
    DECODE_BENCH_CPU = 1 << 3,       /* decode_bench: dtypes on the contiguous layout, the other layouts on f16 */
    DECODE_BENCH_CPU_GRID = 1 << 4,  /* decode_bench --grid: the other layouts with the other dtypes */
    DECODE_BENCH_CPU_PEER = 1 << 5,  /* decode_bench: llama.cpp's comparison shape (last) */
    DECODE_BENCH_GPU = 1 << 6,       /* gpu_decode: every case */
};

typedef struct decode_case {
    char name[64];
    unsigned groups, levels;
    lc_kv_layout layout;
    lc_dtype dtype;              /* the cache's storage */
    lc_dtype q_dtype, out_dtype; /* GPU: how q and out are stored (the CPU's are f32) */
    int batch;                   /* GPU: sequences, one step each; CPU test: the cache's max_seqs (a neighbour shares it) */
    int heads_kv, group, n_q, head_dim; /* query heads = heads_kv * group; n_q new tokens */
    int block_size;              /* paged: tokens per block */
    int64_t len;                 /* tokens cached (GPU: the first sequence's; the others' drawn up to it, unless no_lens) */
    int64_t spare;               /* CPU test: the cache's capacity beyond len */
    int64_t window, sinks;       /* CPU: the ring / sinks cache's window and sinks; GPU: the mask's (decode_case_mask) */
    int mask_kind;               /* GPU: 0 as window / sinks say; 1 full; 2 window {left 40, right 2}; 3 causal + 1 + sinks sinks */
    float softcap;
    int64_t split;               /* forced: CPU keys per task (lc_decode.split), GPU splits (lc_cuda_decode.splits); 0: the plan's */
    int threads;                 /* CPU threads; 0: all */
    int no_lens;                 /* GPU: lens NULL, every sequence holds len tokens */
    int query_f32;               /* CPU benchmark: the query kept in f32 (lc_decode.query_f32) */
} decode_case;

/* The cases of any of `groups` at `level` (CASE_FULL, CASE_QUICK or CASE_SMOKE) in the
 * table's order, axes->lengths replacing the benchmark's cache lengths (NULL: the table's).
 * Returns a malloc'd array (free it) of *count cases; NULL on no memory. */
decode_case *decode_cases_select(unsigned groups, int level, const case_axes *axes, int *count);

/* test_kv_cache's random trials: trial t's layout is t % 4 and storage dtype (t / 4) % 5;
 * every third is the shape the benchmarks time (4 query rows per KV head, one query); every
 * tenth caches up to 1500 tokens (else up to 300); head dims 1 to 129; blocks of 1, 3, 16;
 * 1-3 sequences; 1-3 threads; keys per task 0 (the plan's), 1 or 2, 5, 64. */
enum { DECODE_CPU_TRIALS = 300 };
decode_case decode_case_random_cpu(int trial, uint64_t seed, uint64_t *counter);

/* test_gpu_decode's random trials: contiguous and paged in turn, bf16 / f16 / int8 caches,
 * head dims 64 / 128 / 256; 1-3 sequences, 1, 2, 3, 4, 8 KV heads, 1-3 new tokens, groups
 * up to 16 rows, blocks of 1, 16, 24, 64, 256, lengths around 1, 16, 100, 1000, 3001; a
 * quarter with a forced split, a third a window and sinks, a fifth soft-capping, a quarter
 * without lens, a quarter another mask. */
int decode_gpu_trials(int level);
decode_case decode_case_random_gpu(int trial, uint64_t seed, uint64_t *counter);

/* The GPU case's mask (the CPU's caches are the mask). */
lc_mask decode_case_mask(const decode_case *c);

/* How close decode must be to the float64 reference over the values the cache stores. */
typedef struct decode_tolerance {
    double out;     /* CPU: max |got - want| <= out (1 + max |want|) */
    double lse;     /* CPU: |lse - want| <= lse (1 + |want|) */
    double vs_f32[5], vs_f32_abs; /* CPU: against an f32 cache of the same tokens, per storage
                                   * dtype: max |got - got_f32| <= vs_f32[dtype] max |v| + vs_f32_abs
                                   * (docs/kv-cache.md states these bounds) */
    double out_norm, lse_abs; /* GPU: max |got - want| / max |want| <= out_norm; |lse - want| <= lse_abs */
} decode_tolerance;
const decode_tolerance *decode_tolerance_of(const decode_case *c);

/* What the CPU's rounded probabilities (lc_decode with a rounded query) add to `out`'s
 * bound over `kept` keys whose values reach max |v| = vmax: int8 caches round P to int16
 * steps of max p / 32767 per block, independently (6 sigma of their sum); bf16 and fp8
 * caches to bf16, each p within 2^-8 of itself. */
double decode_tolerance_rounded_p(lc_dtype cache, int64_t kept, double vmax);

#ifdef __cplusplus
}
#endif
#endif
