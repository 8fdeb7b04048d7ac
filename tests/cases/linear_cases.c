/* The linear-attention case table (linear_cases.h). */
#include "linear_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct table {
    unsigned groups;
    int level;
    const case_axes *axes;
    linear_case *out;
    int n, cap, failed;
} table;

static void add(table *t, const linear_case *c) {
    if (!(c->groups & t->groups) || !(c->levels & t->level) || t->failed) return;
    linear_case *room = case_room(t->out, t->n, &t->cap, sizeof *c);
    if (!room) {
        t->failed = 1;
        return;
    }
    t->out = room;
    t->out[t->n++] = *c;
}

static linear_case make(const char *name, unsigned groups, unsigned levels) {
    linear_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.groups = groups, c.levels = levels;
    c.batch = 1, c.heads = 1, c.dk = c.dv = 64, c.n = 64, c.causal = 1, c.normalize = 1, c.in_scale = 0.5f;
    c.split1 = c.split2 = c.n;
    c.tol = 1e-4;
    return c;
}

/* ---- tests/cuda/test_gpu_linear.cu ------------------------------------------------- */

int linear_gpu_trials(int level) { return level == CASE_SMOKE ? 6 : level == CASE_QUICK ? 60 : 200; }

/* Feature maps in turn; widths 1 to 130 (tiles of 64 cut at odd places); lengths 1 to 600;
 * chunks 0 (64), 1, 7, 64, 100 and 300 (rows of one chunk over several tiles); decay, no
 * normalisation, non-causal, BHSD each a fraction; causal sequences split over two prefills
 * and steps at random points (half of them). */
linear_case linear_case_random_gpu(int t, uint64_t seed, uint64_t *k) {
    static const int64_t dims[] = {1, 5, 16, 33, 64, 65, 128, 130}, chunks[] = {0, 1, 7, 64, 100, 300};
    linear_case c = make("random", LINEAR_GPU_RANDOM, CASE_ALL_LEVELS);
    snprintf(c.name, sizeof c.name, "trial %d", t);
    c.feature = (lc_feature_map)(t % 3);
    c.batch = 1 + (int64_t)case_below(seed, k, 2);
    c.heads = 1 + (int64_t)case_below(seed, k, 3);
    c.dk = dims[case_below(seed, k, 8)], c.dv = dims[case_below(seed, k, 8)];
    if (c.feature == LC_FEATURE_FAVOR) c.features = ((int64_t[]){1, 16, 64, 96, 130})[case_below(seed, k, 5)];
    c.n = case_below(seed, k, 4) == 0 ? 1 + (int64_t)case_below(seed, k, 5) : 1 + (int64_t)case_below(seed, k, 600);
    c.chunk = chunks[case_below(seed, k, 6)];
    c.causal = case_below(seed, k, 5) != 0;
    c.normalize = case_below(seed, k, 4) != 0;
    c.decay = c.causal && case_below(seed, k, 3) == 0;
    c.layout = (int)case_below(seed, k, 3) == 0;
    c.in_scale = c.feature == LC_FEATURE_FAVOR ? 1.0f : 0.5f;
    c.split1 = c.split2 = c.n;
    if (c.causal && c.n > 2 && case_below(seed, k, 2)) {
        c.split1 = 1 + (int64_t)case_below(seed, k, (uint64_t)(c.n - 1));
        c.split2 = c.split1 + (int64_t)case_below(seed, k, (uint64_t)(c.n - c.split1));
    }
    c.tol = 2e-4;
    return c;
}

/* Long sequences (state carried over many chunks, a 16K-token sequence with decay), a wide
 * head (d = 256, F = 256 FAVOR+ features), FAVOR+ inputs whose features would overflow f32
 * without the max-shift, chunks of 1000 tokens (rows over 16 tiles), chunk 4096 over 5000
 * tokens. Not in --smoke. */
static void gpu_fixed(table *t) {
    linear_case c = make("long, decay, split", LINEAR_GPU_FIXED, CASE_FULL_QUICK);
    c.heads = 4, c.n = 5003, c.dk = c.dv = 64, c.decay = 1, c.feature = LC_FEATURE_ELU1, c.split1 = 2500, c.split2 = 5000;
    add(t, &c);
    c = make("16K tokens, decay", LINEAR_GPU_FIXED, CASE_FULL);
    c.heads = 2, c.n = 16384, c.dk = c.dv = 128, c.decay = 1, c.feature = LC_FEATURE_RELU, c.tol = 5e-4;
    c.split1 = c.split2 = c.n;
    add(t, &c);
    c = make("wide FAVOR+", LINEAR_GPU_FIXED, CASE_FULL_QUICK);
    c.heads = 2, c.n = 777, c.dk = c.dv = 256, c.feature = LC_FEATURE_FAVOR, c.features = 256, c.chunk = 100, c.in_scale = 1, c.split1 = 300, c.split2 = 700;
    c.tol = 5e-4;
    add(t, &c);
    c = make("FAVOR+ max-shift", LINEAR_GPU_FIXED, CASE_FULL_QUICK);
    c.heads = 2, c.n = 300, c.dk = 16, c.dv = 16, c.feature = LC_FEATURE_FAVOR, c.features = 32, c.in_scale = 8, c.decay = 1, c.split1 = 100, c.split2 = 290;
    c.tol = 1e-3;
    add(t, &c);
    c = make("chunk 1000", LINEAR_GPU_FIXED, CASE_FULL_QUICK);
    c.heads = 3, c.n = 2345, c.dk = 32, c.dv = 48, c.chunk = 1000, c.decay = 1, c.feature = LC_FEATURE_ELU1, c.split1 = c.split2 = c.n;
    add(t, &c);
    c = make("chunk 4096, no normalisation", LINEAR_GPU_FIXED, CASE_FULL);
    c.n = 5000, c.dk = c.dv = 32, c.chunk = 4096, c.normalize = 0, c.decay = 1, c.feature = LC_FEATURE_ELU1, c.split1 = c.split2 = c.n, c.tol = 5e-4;
    add(t, &c);
}

/* ---- bench/cuda/gpu_linear.cu ------------------------------------------------------ */

/* B = 1, 16 heads, d_k = d_v = 128, causal, normalised, elu+1, chunk 64 (--lengths replaces
 * the lengths); one FAVOR+ case (128 features) at the middle length. */
static void bench_gpu(table *t) {
    static const int64_t lengths[] = {4096, 16384, 65536}, quick_lengths[] = {4096};
    for (int quick = 0; quick < 2; quick++) {
        const int64_t *L = quick ? quick_lengths : lengths;
        int nl = quick ? 1 : 3;
        if (t->axes && t->axes->n_lengths > 0) L = t->axes->lengths, nl = t->axes->n_lengths;
        for (int i = 0; i < nl; i++) {
            linear_case c = make("elu1", LINEAR_BENCH_GPU, quick ? CASE_QUICK : CASE_FULL);
            c.heads = 16, c.dk = c.dv = 128, c.n = c.split1 = c.split2 = L[i], c.feature = LC_FEATURE_ELU1;
            add(t, &c);
            if (i == nl / 2) {
                snprintf(c.name, sizeof c.name, "favor");
                c.feature = LC_FEATURE_FAVOR, c.features = 128;
                add(t, &c);
            }
        }
    }
}

linear_case *linear_cases_select(unsigned groups, int level, const case_axes *axes, int *count) {
    table t = {groups, level, axes, NULL, 0, 0, 0};
    gpu_fixed(&t);
    bench_gpu(&t);
    return case_selection(t.out, t.n, t.failed, sizeof(linear_case), count);
}
