/* The GPU MLA decode case table (mla_cases.h). Each function below adds one program's part
 * of the table; add() keeps the cases the caller asked for. */
#include "mla_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct table {
    unsigned groups;
    int level;
    mla_case *out;
    int n, cap, failed;
} table;

static void add(table *t, const mla_case *c) {
    if (!(c->groups & t->groups) || !(c->levels & t->level) || t->failed) return;
    mla_case *room = case_room(t->out, t->n, &t->cap, sizeof *c);
    if (!room) {
        t->failed = 1;
        return;
    }
    t->out = room;
    t->out[t->n++] = *c;
}

static mla_case make(const char *name, unsigned groups, unsigned levels, lc_kv_layout layout, lc_dtype dtype) {
    mla_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.groups = groups, c.levels = levels, c.layout = layout, c.dtype = dtype;
    c.batch = 1, c.heads = 16, c.n_q = 1, c.nope = 128, c.v_dim = 128, c.block_size = 64;
    return c;
}

/* ---- tests/cuda/test_gpu_mla.cu ---------------------------------------------------- */

int mla_gpu_trials(int level) { return level == CASE_SMOKE ? 8 : level == CASE_QUICK ? 48 : 160; }

mla_case mla_case_random_gpu(int t, int level, uint64_t seed, uint64_t *k) {
    static const int heads[] = {1, 2, 3, 7, 16, 17, 32, 33, 64, 128}, nopes[] = {0, 16, 128}, vdims[] = {1, 64, 128};
    static const int blocks[] = {1, 16, 24, 64, 256}, lens[] = {1, 31, 32, 33, 100, 1000, 3001};
    mla_case c = make("random", MLA_GPU_RANDOM, CASE_ALL_LEVELS, t % 2 ? LC_KV_PAGED : LC_KV_CONTIGUOUS, (t / 2) % 2 ? LC_F16 : LC_BF16);
    snprintf(c.name, sizeof c.name, "trial %d", t);
    c.heads = heads[case_below(seed, k, 10)];
    c.n_q = 1 + (int)case_below(seed, k, 3);
    c.batch = 1 + (int)case_below(seed, k, 3);
    c.nope = nopes[case_below(seed, k, 3)];
    c.v_dim = vdims[case_below(seed, k, 3)];
    c.block_size = blocks[case_below(seed, k, 5)];
    /* the float64 reference's work: about batch x rows x len, kept to 1.5M (smoke: len <= 100) */
    int li = (int)case_below(seed, k, level == CASE_SMOKE ? 5 : 7);
    while (li > 0 && (int64_t)c.batch * c.n_q * c.heads * (lens[li] + c.n_q) > 1500000) li--;
    c.len = lens[li] + c.n_q;
    c.absorbed = case_below(seed, k, 3) == 0;
    c.splits = case_below(seed, k, 4) == 0 ? 1 + (int)case_below(seed, k, 9) : 0;
    c.no_lens = case_below(seed, k, 4) == 0;
    return c;
}

/* DeepSeek-V2/V3's attention (128 heads, nope 128, v 128) over a paged bf16 cache of 64-token
 * pages, and absorbed; 16 heads and 2 new tokens (multi-token prediction) over a long f16
 * cache (--quick 20000 tokens, else 70001: many splits); one head, one token; 33 heads x 2
 * tokens (rows 66: two 64-row blocks, the second nearly empty) with 24-token pages. The
 * two-token caches end a 32-key tile at the first query's last key (20000 and 1504 tokens),
 * where a block's rows stop seeing the same keys. */
static void gpu_fixed(table *t) {
    mla_case c = make("deepseek 128 heads", MLA_GPU_FIXED, CASE_FULL_QUICK, LC_KV_PAGED, LC_BF16);
    c.batch = 2, c.heads = 128, c.len = 5000;
    add(t, &c);
    c.absorbed = 1, c.dtype = LC_F16, c.layout = LC_KV_CONTIGUOUS, c.no_lens = 1;
    add(t, &c);
    for (int quick = 0; quick < 2; quick++) {
        mla_case l = make("long", MLA_GPU_FIXED, quick ? CASE_QUICK : CASE_FULL, LC_KV_CONTIGUOUS, LC_F16);
        l.heads = 16, l.n_q = 2, l.len = quick ? 20000 : 70001;
        add(t, &l);
    }
    mla_case one = make("one row", MLA_GPU_FIXED, CASE_ALL_LEVELS, LC_KV_PAGED, LC_BF16);
    one.heads = 1, one.len = 77, one.block_size = 16;
    add(t, &one);
    mla_case odd = make("66 rows", MLA_GPU_FIXED, CASE_FULL_QUICK, LC_KV_PAGED, LC_BF16);
    odd.batch = 3, odd.heads = 33, odd.n_q = 2, odd.len = 1504, odd.block_size = 24, odd.nope = 64, odd.v_dim = 96;
    add(t, &odd);
}

/* ---- bench/cuda/gpu_mla.cu ----------------------------------------------------------- */

/* One new token, bf16, 64-token pages (FlashMLA's), DeepSeek's nope and v_dim: batch 1, 8, 64
 * x heads 16, 128 x 4K, 16K, 64K cached tokens (--quick: batch 1, 64, 4K and 16K); then 128
 * heads with 2 new tokens (rows 256); then three cases with the split at half and twice the
 * plan's (the benchmark reads the plan's split back from the first run and fills them in). */
static void bench_gpu(table *t) {
    static const int batches[] = {1, 8, 64}, heads[] = {16, 128};
    static const int64_t lens[] = {4096, 16384, 65536};
    for (int bi = 0; bi < 3; bi++)
        for (int hi = 0; hi < 2; hi++)
            for (int li = 0; li < 3; li++) {
                const int quick = bi != 1 && li < 2;
                mla_case c = make("grid", MLA_BENCH_GPU, quick ? CASE_FULL_QUICK : CASE_FULL, LC_KV_PAGED, LC_BF16);
                c.batch = batches[bi], c.heads = heads[hi], c.len = lens[li];
                add(t, &c);
            }
    for (int li = 0; li < 2; li++) {
        mla_case c = make("two new tokens", MLA_BENCH_GPU, CASE_FULL_QUICK, LC_KV_PAGED, LC_BF16);
        c.batch = 64, c.heads = 128, c.n_q = 2, c.len = lens[li];
        add(t, &c);
    }
    const int sweep[][3] = {{1, 16, 65536}, {8, 16, 16384}, {1, 128, 65536}};
    for (int i = 0; i < 3; i++) {
        mla_case c = make("split sweep", MLA_BENCH_GPU_SPLITS, CASE_FULL, LC_KV_PAGED, LC_BF16);
        c.batch = sweep[i][0], c.heads = sweep[i][1], c.len = sweep[i][2];
        add(t, &c);
    }
}

mla_case *mla_cases_select(unsigned groups, int level, int *count) {
    table t = {groups, level, NULL, 0, 0, 0};
    gpu_fixed(&t);
    bench_gpu(&t);
    return case_selection(t.out, t.n, t.failed, sizeof(mla_case), count);
}

static const mla_tolerance tol_bf16 = {5e-3}, tol_f16 = {1.5e-3};

const mla_tolerance *mla_tolerance_of(const mla_case *c) { return c->dtype == LC_F16 ? &tol_f16 : &tol_bf16; }
