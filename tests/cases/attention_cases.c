/* The attention case table (attention_cases.h). Each function below adds one program's
 * part of the table; add() keeps the cases the caller asked for. */
#include "attention_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct table {
    unsigned groups;
    int level;
    const case_axes *axes;
    attn_case *out;
    int n, cap, failed;
} table;

static void add(table *t, const attn_case *c) {
    if (!(c->groups & t->groups) || !(c->levels & t->level) || t->failed) return;
    attn_case *room = case_room(t->out, t->n, &t->cap, sizeof *c);
    if (!room) {
        t->failed = 1;
        return;
    }
    t->out = room;
    t->out[t->n++] = *c;
}

/* A case of one dtype throughout, n_q = n_kv = n, hq = hkv = h, dk = dv = d. */
static attn_case square(const char *name, unsigned groups, unsigned levels, int64_t batch, int64_t n, int64_t h, int64_t d, lc_dtype t,
                        attn_mask_kind mask) {
    attn_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.groups = groups, c.levels = levels;
    c.batch = batch, c.n_q = c.n_kv = n, c.hq = c.hkv = h, c.dk = c.dv = d;
    c.tq = c.tk = c.tv = c.tout = t;
    c.mask = mask;
    return c;
}

/* The lengths (or head dims) of a grid: the command line's where it gave them. */
static int axis(const int64_t *given, int n_given, const int64_t *table_values, int n_table, const int64_t **values) {
    if (given && n_given > 0) {
        *values = given;
        return n_given;
    }
    *values = table_values;
    return n_table;
}

/* ---- tests/test_attention.c -------------------------------------------------------- */

/* The named cases, each on its own: base shape 77 x 77, 2 query heads over 1 KV head,
 * d = 64, f32, 2 threads. Tolerance: attn_tolerance_cpu. */
static void cpu_named(table *t) {
    const unsigned g = ATTN_CPU_NAMED, lv = CASE_FULL;
    attn_case base = square("", g, lv, 1, 77, 1, 64, LC_F32, ATTN_CAUSAL), c;
    base.hq = 2, base.threads = 2;
#define NAMED(text) (c = base, snprintf(c.name, sizeof c.name, "%s", text))
    NAMED("n = 1"), c.n_q = c.n_kv = 1, add(t, &c);
    NAMED("one decode query at offset 299"), c.n_q = 1, c.n_kv = 300, c.q_offset = 299, add(t, &c);
    NAMED("prefill of 45 into a cache of 256"), c.n_q = 45, c.n_kv = 301, c.q_offset = 301 - 45, add(t, &c);
    NAMED("n_q > n_kv, full"), c.n_q = 300, c.n_kv = 20, c.mask = ATTN_FULL, add(t, &c);
    for (int64_t ratio = 1; ratio <= 8; ratio++) { /* every GQA ratio up to 8, and MQA */
        c = base, c.hkv = ratio == 8 ? 1 : 2, c.hq = ratio == 8 ? 8 : 2 * ratio, c.n_q = c.n_kv = 131;
        snprintf(c.name, sizeof c.name, "GQA %lld:%lld", (long long)c.hq, (long long)c.hkv);
        add(t, &c);
    }
    static const int64_t dk[] = {32, 64, 96, 128, 192, 256}, dv[] = {32, 64, 96, 128, 128, 256};
    for (int i = 0; i < 6; i++) { /* head dims; 192/128 is MLA's */
        c = base, c.dk = dk[i], c.dv = dv[i], c.n_q = c.n_kv = 260;
        snprintf(c.name, sizeof c.name, "head dims %lld/%lld", (long long)dk[i], (long long)dv[i]);
        add(t, &c);
    }
    for (int d = 0; d < 3; d++) { /* every dtype, in and out */
        NAMED("one dtype throughout"), c.tq = c.tk = c.tv = c.tout = (lc_dtype)d, c.n_q = c.n_kv = 200, add(t, &c);
    }
    /* fully masked rows: a non-causal window past the end of the keys, and an empty bitmap
     * row; out must be 0 and lse -inf */
    NAMED("fully masked rows (window)"), c.n_q = 40, c.n_kv = 10, c.mask = ATTN_BAND, c.window = 2, c.right = 2, add(t, &c);
    NAMED("fully masked rows (bitmap)"), c.n_q = c.n_kv = 32, c.mask = ATTN_BITMAP_HALF, add(t, &c);
    NAMED("soft-capping 5, scale 1"), c.softcap = 5.0f, c.scale = 1.0f, c.n_q = c.n_kv = 140, add(t, &c);
    NAMED("n = 4097 causal"), c.n_q = c.n_kv = 4097, c.hq = c.hkv = 1, c.dk = c.dv = 32, add(t, &c);
    NAMED("n = 4097 window 700"), c.n_q = c.n_kv = 4097, c.hq = c.hkv = 1, c.dk = c.dv = 32, c.mask = ATTN_SLIDING, c.window = 700, add(t, &c);
    /* K and V past 4 MiB a head: the CPU kernel's 256-query tiles (and a ragged second one) */
    NAMED("prefill of 300 into 4100 keys, d 256"), c.n_q = 300, c.n_kv = 4100, c.q_offset = 3800, c.hq = c.hkv = 1, c.dk = c.dv = 256,
                                                    c.tk = c.tv = LC_BF16, add(t, &c);
#undef NAMED
    attn_case det = square("thread determinism", ATTN_CPU_DETERMINISM, lv, 2, 333, 2, 64, LC_F32, ATTN_CAUSAL);
    det.hq = 4;
    add(t, &det);
}

static lc_dtype random_dtype(uint64_t seed, uint64_t *k) { return (lc_dtype)case_below(seed, k, 3); }

static int64_t random_len(uint64_t seed, uint64_t *k, int64_t max) {
    switch (case_below(seed, k, 5)) {
    case 0: return 1;
    case 1: return 1 + (int64_t)case_below(seed, k, 17);
    case 2: return 127 + (int64_t)case_below(seed, k, 4); /* around the query tile */
    case 3: return 255 + (int64_t)case_below(seed, k, 4); /* around the key tile */
    default: return 1 + (int64_t)case_below(seed, k, (uint64_t)max);
    }
}

attn_case attn_case_random(int mask_kind, uint64_t seed, uint64_t *k) {
    static const int64_t dims[] = {32, 33, 64, 80, 96, 128, 256};
    attn_case s;
    memset(&s, 0, sizeof s);
    s.levels = CASE_FULL; /* drawn, not selected: in no group */
    s.batch = 1 + (int64_t)case_below(seed, k, 2);
    s.n_q = random_len(seed, k, 400), s.n_kv = case_below(seed, k, 3) ? s.n_q : random_len(seed, k, 400);
    s.hkv = 1 + (int64_t)case_below(seed, k, 2);
    s.hq = s.hkv * (1 + (int64_t)case_below(seed, k, 4)); /* GQA ratios 1..4; MQA when hkv = 1 */
    s.dk = dims[case_below(seed, k, 7)];
    s.dv = case_below(seed, k, 4) ? s.dk : dims[case_below(seed, k, 7)];
    s.tq = random_dtype(seed, k), s.tk = random_dtype(seed, k), s.tv = random_dtype(seed, k), s.tout = random_dtype(seed, k);
    s.layout = (int)case_below(seed, k, 3);
    s.scale = case_below(seed, k, 4) ? 0.0f : (float)(0.05 + case_uniform(seed, k));
    s.softcap = case_below(seed, k, 4) ? 0.0f : (float)(1 + 30 * case_uniform(seed, k));
    s.threads = 1 + (int)case_below(seed, k, 3);
    s.mask = ATTN_RANDOM, s.window = mask_kind;
    return s;
}

/* ---- tests/cuda/test_gpu_attention.cu ---------------------------------------------- */

/* The flash grid: head dims (192/128 is MLA's), lengths across the 64- and 128-key tiles
 * (--smoke the first 2, --quick the first 4), and six kinds: full, causal, sliding 37,
 * sliding 50 + 4 sinks in f16, a prefill at offset 300 with f32 out, the sparse bitmap
 * with soft-capping 20; then longer sequences (window and causal, GQA 8:1), several
 * 128-row blocks against a longer cache, and a non-causal n_q < n_kv. */
static void gpu_grid(table *t) {
    const unsigned g = ATTN_GPU_GRID;
    static const int64_t dims[][2] = {{64, 64}, {128, 128}, {256, 256}, {192, 128}};
    static const int64_t lengths[] = {1, 17, 100, 257, 64, 1000};
    static const char *const kinds[] = {"full", "causal", "sliding 37", "sliding 50 + 4 sinks", "prefill at offset 300", "sparse bitmap"};
    for (int di = 0; di < 4; di++)
        for (int li = 0; li < 6; li++)
            for (int kind = 0; kind < 6; kind++) {
                const unsigned lv = li < 2 ? CASE_ALL_LEVELS : li < 4 ? CASE_FULL_QUICK : CASE_FULL;
                attn_case c = square("", g, lv, 1 + kind % 2, lengths[li], 4, dims[di][0], kind == 3 ? LC_F16 : LC_BF16, ATTN_FULL);
                snprintf(c.name, sizeof c.name, "grid %s", kinds[kind]);
                c.dv = dims[di][1];
                c.hkv = kind % 3 == 0 ? 4 : kind % 3 == 1 ? 2 : 1;
                c.tout = kind == 4 ? LC_F32 : c.tq;
                c.softcap = kind == 5 ? 20.f : 0.f;
                switch (kind) {
                case 1: c.mask = ATTN_CAUSAL; break;
                case 2: c.mask = ATTN_SLIDING, c.window = 37; break;
                case 3: c.mask = ATTN_SLIDING, c.window = 50, c.sinks = 4; break;
                case 4: c.n_kv = c.n_q + 300, c.mask = ATTN_CAUSAL, c.q_offset = 300; break; /* n_q != n_kv */
                case 5: c.mask = ATTN_BITMAP_SPARSE; break; /* empty rows: fully masked queries */
                }
                add(t, &c);
            }
    for (int quick = 0; quick < 2; quick++) { /* tiles skipped by the window, GQA 8:1 */
        const int64_t n = quick ? 2048 : 4099;
        attn_case c = square("long, sliding 300", g, quick ? CASE_QUICK : CASE_FULL, 1, n, 8, 128, LC_BF16, ATTN_SLIDING);
        c.hkv = 1, c.window = 300;
        add(t, &c);
        c.mask = ATTN_CAUSAL, snprintf(c.name, sizeof c.name, "long, causal");
        add(t, &c);
    }
    attn_case pre = square("prefill: 700 queries at offset 633", g, CASE_FULL_QUICK, 2, 700, 8, 64, LC_BF16, ATTN_CAUSAL);
    pre.n_kv = 1333, pre.hkv = 2, pre.tout = LC_F32, pre.q_offset = 633;
    add(t, &pre);
    attn_case cross = square("cross: 300 queries, 1111 keys", g, CASE_FULL_QUICK, 1, 300, 4, 128, LC_F16, ATTN_FULL);
    cross.n_kv = 1111;
    add(t, &cross);
}

/* The Hopper kernel's 2-block clusters sharing K / V copies (auto's 176-key d = 128 block,
 * ws3 at d = 64; no causal mask, window or bitmap; an even number of query tiles per head;
 * n_q = 512 at d = 64 is 3 tiles, unclustered): key counts whose last tile is empty,
 * shorter or longer than a block's half of it, GQA and MQA, sinks alone, dtypes. --quick
 * runs every other one. Then the same blocks unclustered; then the public entry points. */
static void gpu_clusters(table *t) {
    static const int64_t n_q[] = {256, 512, 1000}, n_kv[] = {1, 60, 176, 300, 2000}, dims[] = {128, 64};
    for (int di = 0; di < 2; di++)
        for (int qi = 0; qi < 3; qi++)
            for (int ki = 0; ki < 5; ki++) {
                const int kind = (qi * 5 + ki) % 4;
                attn_case c = square("clusters", ATTN_GPU_CLUSTERS, (qi + ki) % 2 ? CASE_FULL : CASE_FULL_QUICK, 1 + kind % 2, n_q[qi], 4,
                                     dims[di], kind == 2 ? LC_F16 : LC_BF16, ATTN_FULL);
                c.n_kv = n_kv[ki];
                c.hkv = kind < 2 ? 4 - 2 * kind : 1;
                c.tout = kind == 3 ? LC_F32 : c.tq;
                if (kind == 1) c.sinks = 4, snprintf(c.name, sizeof c.name, "clusters, 4 sinks"); /* the other tiles are skipped */
                add(t, &c);
            }
    for (int ki = 0; ki < 5; ki += 2) {
        attn_case c = square("unclustered", ATTN_GPU_UNCLUSTERED, CASE_FULL_QUICK, 2, 512, 4, 128, LC_BF16, ATTN_FULL);
        c.n_kv = n_kv[ki], c.hkv = 2;
        add(t, &c);
    }
    attn_case e = square("planned", ATTN_GPU_PLANNED, CASE_ALL_LEVELS, 2, 333, 8, 64, LC_BF16, ATTN_CAUSAL);
    e.n_kv = 1111, e.hkv = 2;
    add(t, &e);
    e.groups = ATTN_GPU_SM90, e.mask = ATTN_SLIDING, e.window = 100, snprintf(e.name, sizeof e.name, "the Hopper path by name");
    add(t, &e);
}

/* ---- the benchmarks ---------------------------------------------------------------- */

/* bench/attention_bench.c: one head, batch 1; head dims x {full, causal} x {f32, bf16} x
 * lengths 1K..64K (--quick: 256 and 700 at d = 64); the sliding window 4096 at 32K and 64K
 * (--quick: 128 at 512 and 1024, d = 64); causal f32 at 128K, d = 128. */
static void bench_cpu(table *t) {
    static const int64_t lengths[] = {1024, 2048, 4096, 8192, 16384, 32768, 65536}, quick_lengths[] = {256, 700};
    static const int64_t dims[] = {64, 128}, quick_dims[] = {64};
    static const lc_dtype dtypes[] = {LC_F32, LC_BF16};
    const case_axes none = {0}, *ax = t->axes ? t->axes : &none;
    for (int quick = 0; quick < 2; quick++) {
        const int64_t *L, *D;
        const int nl = axis(ax->lengths, ax->n_lengths, quick ? quick_lengths : lengths, quick ? 2 : 7, &L);
        const int nd = axis(ax->dims, ax->n_dims, quick ? quick_dims : dims, quick ? 1 : 2, &D);
        const unsigned lv = quick ? CASE_QUICK : CASE_FULL;
        for (int di = 0; di < nd; di++)
            for (int causal = 0; causal <= 1; causal++)
                for (int ti = 0; ti < 2; ti++)
                    for (int li = 0; li < nl; li++) {
                        attn_case c = square("grid", ATTN_BENCH_CPU, lv, 1, L[li], 1, D[di], dtypes[ti], causal ? ATTN_CAUSAL : ATTN_FULL);
                        add(t, &c);
                    }
        for (int i = 0; i < 2; i++) {
            attn_case w = square("sliding window", ATTN_BENCH_CPU_WINDOW, lv, 1, quick ? 512 << i : 32768 << i, 1, quick ? 64 : 128, LC_F32,
                                 ATTN_SLIDING);
            w.window = quick ? 128 : 4096;
            add(t, &w);
        }
    }
    attn_case big = square("128K causal", ATTN_BENCH_CPU_BIG, CASE_FULL, 1, 131072, 1, 128, LC_F32, ATTN_CAUSAL);
    add(t, &big);
}

/* bench/cuda/gpu_attention.cu: batch 1, 16 heads, bf16; head dims 64 and 128 x {full,
 * causal} x lengths 1K..32K (--quick: up to 4K); the sliding window 4096 at 32K (--quick:
 * 8K). */
static void bench_gpu(table *t) {
    static const int64_t lengths[] = {1024, 2048, 4096, 8192, 16384, 32768}, dims[] = {64, 128};
    const case_axes none = {0}, *ax = t->axes ? t->axes : &none;
    for (int quick = 0; quick < 2; quick++) {
        const int64_t *L, *D;
        const int nl = axis(ax->lengths, ax->n_lengths, lengths, quick ? 3 : 6, &L), nd = axis(ax->dims, ax->n_dims, dims, 2, &D);
        const unsigned lv = quick ? CASE_QUICK : CASE_FULL;
        for (int di = 0; di < nd; di++)
            for (int causal = 0; causal <= 1; causal++)
                for (int li = 0; li < nl; li++) {
                    attn_case c = square("grid", ATTN_BENCH_GPU, lv, 1, L[li], 16, D[di], LC_BF16, causal ? ATTN_CAUSAL : ATTN_FULL);
                    add(t, &c);
                }
        for (int di = 0; di < 2; di++) {
            attn_case w = square("sliding window", ATTN_BENCH_GPU, lv, 1, quick ? 8192 : 32768, 16, dims[di], LC_BF16, ATTN_SLIDING);
            w.window = 4096;
            add(t, &w);
        }
    }
}

attn_case *attn_cases_select(unsigned groups, int level, const case_axes *axes, int *count) {
    table t = {groups, level, axes, NULL, 0, 0, 0};
    cpu_named(&t);
    gpu_grid(&t);
    gpu_clusters(&t);
    bench_cpu(&t);
    bench_gpu(&t);
    return case_selection(t.out, t.n, t.failed, sizeof(attn_case), count);
}

/* ATTN_BITMAP_SPARSE: block (i, j) visible when (16 i + j) 7 + i is a multiple of 3 */
static const uint8_t sparse_bits[16 * 16] = {
        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
        0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
        0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0,
        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
        0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
        0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0,
        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
        0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
        0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0,
        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
        0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
        0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0,
        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
        0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
        0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0,
        1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
};

lc_mask attn_case_mask(const attn_case *c) {
    static const uint8_t half[4] = {0, 0, 1, 1};
    lc_mask m = lc_mask_full();
    switch (c->mask) {
    case ATTN_FULL:
    case ATTN_RANDOM: break;
    case ATTN_CAUSAL: m = lc_mask_causal(); break;
    case ATTN_SLIDING: m = lc_mask_sliding_window(c->window); break;
    case ATTN_BAND: m.window.enabled = 1, m.window.left = c->window, m.window.right = c->right; break;
    case ATTN_BITMAP_HALF:
        m.blocks.bits = half, m.blocks.block_q = m.blocks.block_k = 16, m.blocks.n_qb = m.blocks.n_kb = 2;
        break;
    case ATTN_BITMAP_SPARSE:
        m.blocks.bits = sparse_bits, m.blocks.block_q = m.blocks.block_k = 64, m.blocks.n_qb = m.blocks.n_kb = 16;
        break;
    }
    m.sinks = c->sinks;
    m.q_offset = c->q_offset;
    return m;
}

static const attn_tolerance cpu_tolerance = {1e-4, 1e-4, 0, 1e-4, 1e-4};
static const attn_tolerance gpu_tolerance = {0, 0, 1e-2, 1e-3, 0};

const attn_tolerance *attn_tolerance_cpu(const attn_case *c) {
    (void)c;
    return &cpu_tolerance;
}

const attn_tolerance *attn_tolerance_gpu(const attn_case *c) {
    (void)c;
    return &gpu_tolerance;
}

const char *attn_case_mask_name(const attn_case *c, char *buf, int n) {
    if (c->mask == ATTN_SLIDING) snprintf(buf, (size_t)n, "window %lld", (long long)c->window);
    else snprintf(buf, (size_t)n, "%s", c->mask == ATTN_CAUSAL ? "causal" : c->mask == ATTN_FULL ? "full" : "other");
    return buf;
}
