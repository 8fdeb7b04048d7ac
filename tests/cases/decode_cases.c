/* The decode case table (decode_cases.h). Each function below adds one program's part of
 * the table; add() keeps the cases the caller asked for. */
#include "decode_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct table {
    unsigned groups;
    int level;
    const case_axes *axes;
    decode_case *out;
    int n, cap, failed;
} table;

static void add(table *t, const decode_case *c) {
    if (!(c->groups & t->groups) || !(c->levels & t->level) || t->failed) return;
    decode_case *room = case_room(t->out, t->n, &t->cap, sizeof *c);
    if (!room) {
        t->failed = 1;
        return;
    }
    t->out = room;
    t->out[t->n++] = *c;
}

static decode_case make(const char *name, unsigned groups, unsigned levels, lc_kv_layout layout, lc_dtype dtype) {
    decode_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.groups = groups, c.levels = levels, c.layout = layout, c.dtype = dtype;
    c.q_dtype = c.out_dtype = LC_F32;
    c.batch = 1, c.n_q = 1;
    return c;
}

/* ---- tests/test_kv_cache.c --------------------------------------------------------- */

decode_case decode_case_random_cpu(int trial, uint64_t seed, uint64_t *k) {
    static const int heads[] = {1, 2, 3, 4, 8}, dims[] = {1, 7, 16, 33, 64, 128, 129}, blocks[] = {1, 3, 16};
    decode_case c = make("random", DECODE_CPU_RANDOM, CASE_FULL, (lc_kv_layout)(trial % 4), (lc_dtype)((trial / 4) % 5));
    snprintf(c.name, sizeof c.name, "trial %d", trial);
    c.heads_kv = heads[case_below(seed, k, trial % 3 ? 4 : 5)];
    /* a third: 4 rows per head, one query (a 32/8 GQA model's decode step, the shape the benchmarks time) */
    c.group = trial % 3 ? 1 + (int)case_below(seed, k, 8) : 4;
    c.head_dim = dims[case_below(seed, k, 7)];
    c.batch = 1 + (int)case_below(seed, k, 3);
    c.len = 1 + (int64_t)case_below(seed, k, trial % 10 == 0 ? 1500 : 300);
    c.spare = (int64_t)case_below(seed, k, 5);
    c.block_size = blocks[case_below(seed, k, 3)];
    c.n_q = trial % 3 ? 1 + (int)case_below(seed, k, 3) : 1;
    if (c.n_q > c.len) c.n_q = (int)c.len;
    c.window = c.n_q + (int64_t)case_below(seed, k, 200);
    c.sinks = (int64_t)case_below(seed, k, 6);
    c.split = ((int64_t[]){0, c.len > 300 ? 2 : 1, 5, 64})[case_below(seed, k, 4)];
    c.threads = 1 + (int)case_below(seed, k, 3);
    return c;
}

/* ---- tests/cuda/test_gpu_decode.cu ------------------------------------------------- */

int decode_gpu_trials(int level) { return level == CASE_SMOKE ? 12 : level == CASE_QUICK ? 60 : 240; }

decode_case decode_case_random_gpu(int t, uint64_t seed, uint64_t *k) {
    static const lc_dtype dtypes[] = {LC_BF16, LC_F16, LC_INT8};
    static const int dims[] = {64, 128, 256}, blocks[] = {16, 24, 64, 1, 256}, lens[] = {1, 15, 16, 17, 100, 1000, 3001};
    static const int heads[] = {1, 2, 3, 4, 8}; /* int8 with 4 or 8: 4 kv heads per block */
    static const int groups[] = {1, 2, 4, 5, 8, 16};
    decode_case c = make("random", DECODE_GPU_RANDOM, CASE_ALL_LEVELS, t % 2 ? LC_KV_PAGED : LC_KV_CONTIGUOUS, dtypes[(t / 2) % 3]);
    snprintf(c.name, sizeof c.name, "trial %d", t);
    c.q_dtype = c.dtype == LC_F16 ? LC_F16 : c.dtype == LC_BF16 ? LC_BF16 : (case_below(seed, k, 2) ? LC_F16 : LC_BF16);
    c.out_dtype = case_below(seed, k, 3) == 0 ? LC_F32 : c.q_dtype;
    c.head_dim = dims[(t / 6) % 3];
    c.batch = 1 + (int)case_below(seed, k, 3);
    c.heads_kv = heads[case_below(seed, k, 5)];
    c.n_q = 1 + (int)case_below(seed, k, 3);
    do c.group = groups[case_below(seed, k, 6)];
    while (c.group * c.n_q > 16);
    c.block_size = blocks[case_below(seed, k, 5)];
    c.len = lens[case_below(seed, k, 7)] + c.n_q;
    c.split = case_below(seed, k, 4) == 0 ? 1 + (int64_t)case_below(seed, k, 5) : 0;
    if (case_below(seed, k, 3) == 0) c.window = 1 + (int64_t)case_below(seed, k, 200), c.sinks = (int64_t)case_below(seed, k, 8);
    if (case_below(seed, k, 5) == 0) c.softcap = 30.f;
    if (case_below(seed, k, 4) == 0) c.no_lens = 1;
    if (case_below(seed, k, 4) == 0) c.mask_kind = 1 + (int)case_below(seed, k, 3);
    return c;
}

/* A contiguous [batch, n_kv, heads_kv, d] tensor as the cache (no lens): head dims, lengths,
 * 1 to 4 new tokens, GQA filling the 16 rows, dtypes, a window with sinks, soft-capping, a
 * forced split. Then long caches: many splits, a window far from the sinks (--quick: 20000
 * tokens instead of 70001); then int8 with 4 KV heads per block: sinks spanning whole tiles,
 * a window, 3 new tokens, paged with pages of 24 keys and of 32 (a power of two), and
 * contiguous. Not in --smoke. */
static void gpu_fixed(table *t) {
    static const int dims[] = {64, 128, 256};
    static const int64_t grid_kv[] = {1, 100, 1000, 5003};
    static const int news[] = {1, 2, 4};
    for (int di = 0; di < 3; di++)
        for (int ki = 0; ki < 4; ki++)
            for (int ni = 0; ni < 3; ni++) {
                const int n_new = news[ni];
                decode_case g = make("grid", DECODE_GPU_FIXED, CASE_FULL_QUICK, LC_KV_CONTIGUOUS, ki % 2 ? LC_F16 : LC_BF16);
                g.q_dtype = g.dtype, g.out_dtype = ki == 2 ? LC_F32 : g.dtype;
                g.batch = 2, g.heads_kv = 2, g.n_q = n_new, g.head_dim = dims[di];
                g.group = g.head_dim == 256 ? 8 / n_new : 16 / n_new / (n_new == 4 ? 1 : 2);
                g.len = grid_kv[ki] + n_new, g.split = ki == 1 ? 3 : 0, g.no_lens = 1;
                if (ki == 2) g.window = 64, g.sinks = 4;
                if (ki == 3) g.softcap = 30.f;
                add(t, &g);
            }
    for (int quick = 0; quick < 2; quick++) {
        decode_case big = make("long", DECODE_GPU_FIXED, quick ? CASE_QUICK : CASE_FULL, LC_KV_PAGED, LC_BF16);
        big.q_dtype = big.out_dtype = LC_BF16;
        big.batch = 2, big.heads_kv = 2, big.group = 4, big.n_q = 1, big.head_dim = 128, big.block_size = 16, big.len = quick ? 20000 : 70001;
        add(t, &big);
        big.dtype = LC_INT8, big.layout = LC_KV_CONTIGUOUS, big.window = 4096, big.sinks = 4;
        add(t, &big);
        big.layout = LC_KV_PAGED, big.heads_kv = 4, big.group = 2, big.window = 0, big.sinks = 0;
        add(t, &big);
        big.heads_kv = 8, big.window = 4096, big.sinks = 4; /* two 4-head blocks per sequence and split */
        add(t, &big);
        big.layout = LC_KV_CONTIGUOUS;
        add(t, &big);
    }
    for (int paged = 1; paged >= 0; paged--) {
        decode_case sw = make("int8, sinks over whole tiles", DECODE_GPU_FIXED, CASE_FULL_QUICK, paged ? LC_KV_PAGED : LC_KV_CONTIGUOUS, LC_INT8);
        sw.q_dtype = LC_F16, sw.out_dtype = LC_F32;
        sw.batch = 2, sw.heads_kv = 4, sw.group = 4, sw.n_q = 3, sw.head_dim = 128, sw.block_size = 24, sw.len = 3001, sw.split = 3;
        sw.window = 300, sw.sinks = 40;
        add(t, &sw);
        sw.block_size = 32, sw.split = 0, sw.head_dim = 64, sw.q_dtype = sw.out_dtype = LC_BF16, sw.softcap = 30.f;
        add(t, &sw);
    }
}

/* ---- the benchmarks ---------------------------------------------------------------- */

/* bench/decode_bench.c: one new token, d = 128, 8 KV heads, 32 query heads, over caches of
 * 32K..1M tokens (--quick: 4K): every dtype on the contiguous layout, bf16 / int8 / fp8
 * twice (the query as lc_decode leaves it, and in f32), paged (16-token blocks), ring and
 * sinks (4) on f16 (DECODE_BENCH_CPU_GRID: on every dtype); then llama.cpp's comparison
 * shape, a 16K f16 cache. */
static void bench_cpu(table *t) {
    static const int64_t lengths[] = {32768, 65536, 131072, 262144, 524288, 1048576}, quick_lengths[] = {4096};
    for (int quick = 0; quick < 2; quick++) {
        const unsigned lv = quick ? CASE_QUICK : CASE_FULL;
        const int64_t *L = quick ? quick_lengths : lengths;
        int nl = quick ? 1 : 6;
        if (t->axes && t->axes->n_lengths > 0) L = t->axes->lengths, nl = t->axes->n_lengths;
        for (int li = 0; li < nl; li++) {
            decode_case c = make("", DECODE_BENCH_CPU, lv, LC_KV_CONTIGUOUS, LC_F32);
            c.heads_kv = 8, c.group = 4, c.head_dim = 128, c.block_size = 16, c.len = L[li], c.window = L[li];
            for (int d = 0; d <= LC_FP8; d++) {
                decode_case e = c;
                e.dtype = (lc_dtype)d;
                add(t, &e);
                if (d == LC_BF16 || d == LC_INT8 || d == LC_FP8) e.query_f32 = 1, add(t, &e);
            }
            for (int l = LC_KV_PAGED; l <= LC_KV_SINKS; l++)
                for (int d = 0; d <= LC_FP8; d++) {
                    decode_case e = c;
                    e.groups = d == LC_F16 ? DECODE_BENCH_CPU : DECODE_BENCH_CPU_GRID;
                    e.layout = (lc_kv_layout)l, e.dtype = (lc_dtype)d;
                    if (l == LC_KV_SINKS) e.sinks = 4, e.window = e.len - 4;
                    add(t, &e);
                }
        }
    }
    decode_case peer = make("llama.cpp shape", DECODE_BENCH_CPU_PEER, CASE_FULL_QUICK, LC_KV_CONTIGUOUS, LC_F16);
    peer.heads_kv = 8, peer.group = 4, peer.head_dim = 128, peer.block_size = 16, peer.len = peer.window = 16384;
    add(t, &peer);
}

/* bench/cuda/gpu_decode.cu: 8 sequences x 128K cached tokens, 8 KV heads, 32 query heads,
 * d = 128, one new token, causal; contiguous and paged (16-token blocks placed in shuffled
 * order), bf16 and int8 (bf16 queries and output). */
static void bench_gpu(table *t) {
    for (int paged = 0; paged < 2; paged++)
        for (int int8 = 0; int8 < 2; int8++) {
            decode_case c = make("", DECODE_BENCH_GPU, CASE_FULL_QUICK, paged ? LC_KV_PAGED : LC_KV_CONTIGUOUS, int8 ? LC_INT8 : LC_BF16);
            c.q_dtype = c.out_dtype = LC_BF16;
            c.batch = 8, c.heads_kv = 8, c.group = 4, c.head_dim = 128, c.block_size = 16, c.len = 131072;
            add(t, &c);
        }
}

decode_case *decode_cases_select(unsigned groups, int level, const case_axes *axes, int *count) {
    table t = {groups, level, axes, NULL, 0, 0, 0};
    gpu_fixed(&t);
    bench_cpu(&t);
    bench_gpu(&t);
    return case_selection(t.out, t.n, t.failed, sizeof(decode_case), count);
}

lc_mask decode_case_mask(const decode_case *c) {
    lc_mask m = c->window > 0 ? lc_mask_sliding_window(c->window) : lc_mask_causal();
    m.sinks = c->sinks;
    if (c->mask_kind == 1) m = lc_mask_full();
    if (c->mask_kind == 2) m = lc_mask_full(), m.window.enabled = 1, m.window.left = 40, m.window.right = 2;
    if (c->mask_kind == 3) m = lc_mask_causal(), m.sinks = 1 + c->sinks;
    return m;
}

static const decode_tolerance tolerance = {
    .out = 2e-5,
    .lse = 2e-5,
    .vs_f32 = {[LC_F32] = 1e-6, [LC_F16] = 2e-3, [LC_BF16] = 1.5e-2, [LC_INT8] = 3e-2, [LC_FP8] = 8e-2},
    .vs_f32_abs = 1e-6,
    .out_norm = 1e-2,
    .lse_abs = 1e-3,
};

const decode_tolerance *decode_tolerance_of(const decode_case *c) {
    (void)c;
    return &tolerance;
}

double decode_tolerance_rounded_p(lc_dtype cache, int64_t kept, double vmax) {
    if (cache == LC_INT8) /* int16, step max p / 32767 per block, independent roundings: 6 sigma of their sum */
        return 6 * sqrt((double)kept) / (32767 * sqrt(12.0)) * vmax;
    return 0x1p-8 * vmax; /* bf16 (8 significant bits): each p within 2^-8 of itself, so the output within 2^-8 max|v| */
}
