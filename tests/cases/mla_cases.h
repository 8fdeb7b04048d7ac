/* The GPU MLA decode cases: one table of cache layouts, shapes, dtypes and tolerances, read by
 *   tests/cuda/test_gpu_mla.cu  GPU MLA decode (lc_cuda_mla_decode) against the float64 reference
 *   bench/cuda/gpu_mla.cu       the same against the device copy bandwidth and the tensor cores
 * The latent rows are DeepSeek-V2/V3's: rank 512, rope 64 (the GPU's shape). A new case is one
 * entry in mla_cases.c with the groups that run it. */
#ifndef LONGCTX_MLA_CASES_H
#define LONGCTX_MLA_CASES_H

#include "cases.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Who runs a case, and which part of the program runs it. */
enum {
    MLA_GPU_RANDOM = 1 << 0,      /* test_gpu_mla: mla_case_random_gpu, mla_gpu_trials(level) of them */
    MLA_GPU_FIXED = 1 << 1,       /* test_gpu_mla: DeepSeek's shapes, long caches */
    MLA_BENCH_GPU = 1 << 2,       /* gpu_mla: the grid of batch x heads x cache length */
    MLA_BENCH_GPU_SPLITS = 1 << 3 /* gpu_mla: a few of them again with the split forced */
};

typedef struct mla_case {
    char name[64];
    unsigned groups, levels;
    lc_kv_layout layout;  /* contiguous or paged */
    lc_dtype dtype;       /* the latent cache's storage: bf16 or f16 */
    int batch, heads, n_q, nope, v_dim; /* rank 512, rope 64 */
    int block_size;       /* paged: tokens per block */
    int64_t len;          /* tokens cached (the first sequence's; the others' drawn up to it, unless no_lens) */
    int no_lens;          /* lens NULL: every sequence holds len tokens */
    int absorbed;         /* lc_cuda_mla.absorbed */
    int splits;           /* forced split count (lc_cuda_mla.splits); 0: the plan's */
} mla_case;

/* The cases of any of `groups` at `level` (CASE_FULL, CASE_QUICK or CASE_SMOKE) in the
 * table's order. Returns a malloc'd array (free it) of *count cases; NULL on no memory. */
mla_case *mla_cases_select(unsigned groups, int level, int *count);

/* test_gpu_mla's random trials: contiguous and paged in turn, bf16 and f16 every other pair;
 * 1-3 sequences of different lengths (a quarter without lens), 1 to 128 heads, 1-3 new
 * tokens, nope 0, 16 or 128, v_dim 1, 64 or 128, blocks of 1, 16, 24, 64 or 256 tokens,
 * lengths around 1, 31, 32, 33, 100, 1000, 3001 (kept to about 1.5M query-row x key pairs
 * per trial: the float64 reference), a third absorbed, a quarter with a forced split of 1-9.
 * --smoke: 8 trials of at most 100 tokens. */
int mla_gpu_trials(int level);
mla_case mla_case_random_gpu(int trial, int level, uint64_t seed, uint64_t *counter);

/* How close GPU MLA decode must be to the float64 reference over the latents the cache
 * stores, with [q_lat ; q_rope] rounded to the cache's dtype as the kernel rounds it:
 * max |got - want| / max |want| <= out_norm. What remains is the probabilities' rounding to
 * the cache's dtype before P C (each p within 2^-9 of itself in bf16, 2^-12 in f16, so the
 * output within about that fraction of max |c| when one key dominates) and f32 sums:
 * bf16 5e-3, f16 1.5e-3. */
typedef struct mla_tolerance {
    double out_norm;
} mla_tolerance;
const mla_tolerance *mla_tolerance_of(const mla_case *c);

#ifdef __cplusplus
}
#endif
#endif
