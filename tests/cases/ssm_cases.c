/* The state-space case table (ssm_cases.h). */
#include "ssm_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct table {
    unsigned groups;
    int level;
    const case_axes *axes;
    ssm_case *out;
    int n, cap, failed;
} table;

static void add(table *t, const ssm_case *c) {
    if (!(c->groups & t->groups) || !(c->levels & t->level) || t->failed) return;
    ssm_case *room = case_room(t->out, t->n, &t->cap, sizeof *c);
    if (!room) {
        t->failed = 1;
        return;
    }
    t->out = room;
    t->out[t->n++] = *c;
}

static ssm_case make(const char *name, unsigned groups, unsigned levels, ssm_kind kind) {
    ssm_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.groups = groups, c.levels = levels, c.kind = kind;
    c.batch = 1, c.n = 64, c.channels = 16, c.heads = 2, c.head_dim = 16, c.bc_groups = 1, c.state = 16, c.kernel = 4;
    c.bias = c.D = c.z = 1, c.dt_mean = -1;
    c.split1 = c.split2 = c.n;
    c.tol = 1e-4;
    return c;
}

/* ---- tests/cuda/test_gpu_ssm.cu ---------------------------------------------------- */

int ssm_gpu_trials(int level) { return level == CASE_SMOKE ? 6 : level == CASE_QUICK ? 90 : 300; }

/* Scan, SSD and conv1d in turn. Lengths 1 to 700 (a quarter at most 5); scan: 1-3 sequences,
 * 1 to 300 channels, state 1 to 64; SSD: 1-3 groups of B and C, 1-4 heads a group, head dims
 * 1 to 130 and states 1 to 256 (tiles of 64 cut at odd places), chunks 0 (64), 1, 5, 64, 100,
 * 300; conv: kernels 1 to 64, rows wider than the channels. Half the sequences split over two
 * calls and steps at random points; D, dt_bias, z absent and the dt clamp each a fraction. */
ssm_case ssm_case_random_gpu(int t, uint64_t seed, uint64_t *k) {
    static const int64_t dims[] = {1, 3, 16, 31, 64, 65, 100, 130}, states[] = {1, 7, 16, 33, 64, 128, 130, 256};
    static const int64_t chunks[] = {0, 1, 5, 64, 100, 300}, kernels[] = {1, 2, 4, 7, 64};
    ssm_case c = make("random", SSM_GPU_RANDOM, CASE_ALL_LEVELS, (ssm_kind)(t % 3));
    snprintf(c.name, sizeof c.name, "trial %d", t);
    c.batch = 1 + (int64_t)case_below(seed, k, 3);
    c.n = case_below(seed, k, 4) == 0 ? 1 + (int64_t)case_below(seed, k, 5) : 1 + (int64_t)case_below(seed, k, 700);
    if (c.kind == SSM_SCAN) {
        c.channels = 1 + (int64_t)case_below(seed, k, 300);
        c.state = 1 + (int64_t)case_below(seed, k, 64);
        c.z = case_below(seed, k, 4) != 0;
    } else if (c.kind == SSM_SSD) {
        c.bc_groups = 1 + (int64_t)case_below(seed, k, 3);
        c.heads = c.bc_groups * (1 + (int64_t)case_below(seed, k, 4));
        c.head_dim = dims[case_below(seed, k, 8)];
        c.state = states[case_below(seed, k, 8)];
        c.chunk = chunks[case_below(seed, k, 6)];
        c.clamp = case_below(seed, k, 4) == 0;
        c.z = 0;
    } else {
        c.channels = 1 + (int64_t)case_below(seed, k, 300);
        c.kernel = kernels[case_below(seed, k, 5)];
        c.stride_pad = (int64_t)case_below(seed, k, 3) * 5;
    }
    if (case_below(seed, k, 4) == 0) c.D = 0, c.bias = 0;
    c.split1 = c.split2 = c.n;
    if (c.n > 2 && case_below(seed, k, 2)) {
        c.split1 = 1 + (int64_t)case_below(seed, k, (uint64_t)(c.n - 1));
        c.split2 = c.split1 + (int64_t)case_below(seed, k, (uint64_t)(c.n - c.split1));
    }
    c.tol = 2e-4;
    return c;
}

/* Long sequences (many spans and chunks, the state carried over 64K tokens at small width),
 * Mamba-2's shapes (head dim 64, state 128, chunk 256) and Mamba's (state 16, 1536
 * channels), extreme dt (exp(dt A) underflowing to 0, dt ~ e^-40), a chunk of 1024, conv over
 * 20000 tokens. Not in --smoke. */
static void gpu_fixed(table *t) {
    ssm_case c = make("Mamba shape, split", SSM_GPU_FIXED, CASE_FULL_QUICK, SSM_SCAN);
    c.batch = 2, c.n = 3001, c.channels = 1536, c.state = 16, c.split1 = 1000, c.split2 = 2999;
    add(t, &c);
    c = make("64K tokens", SSM_GPU_FIXED, CASE_FULL_QUICK, SSM_SCAN);
    c.n = c.split1 = c.split2 = 65536, c.channels = 8, c.state = 4, c.dt_mean = -2, c.tol = 1e-3;
    add(t, &c);
    for (int e = 0; e < 3; e++) {
        c = make("extreme dt", SSM_GPU_FIXED, CASE_FULL_QUICK, SSM_SCAN);
        c.n = c.split1 = c.split2 = 3000, c.channels = 9, c.state = 5, c.dt_mean = ((float[]){-40, 30, 80})[e];
        add(t, &c);
        c.kind = SSM_SSD, c.heads = 4, c.head_dim = 6, c.bc_groups = 2, c.state = 5, c.chunk = 8;
        add(t, &c);
    }
    c = make("Mamba-2 shape, split", SSM_GPU_FIXED, CASE_FULL_QUICK, SSM_SSD);
    c.batch = 2, c.n = 2000, c.heads = 8, c.head_dim = 64, c.bc_groups = 1, c.state = 128, c.chunk = 256, c.split1 = 777, c.split2 = 1998;
    add(t, &c);
    c = make("64K tokens", SSM_GPU_FIXED, CASE_FULL_QUICK, SSM_SSD);
    c.n = c.split1 = c.split2 = 65536, c.heads = 2, c.head_dim = 2, c.state = 4, c.dt_mean = -2, c.tol = 1e-3;
    add(t, &c);
    c = make("chunk 1024, wide", SSM_GPU_FIXED, CASE_FULL, SSM_SSD);
    c.n = c.split1 = c.split2 = 2500, c.heads = 2, c.head_dim = 256, c.state = 256, c.chunk = 1024, c.clamp = 1;
    add(t, &c);
    c = make("20000 tokens", SSM_GPU_FIXED, CASE_FULL_QUICK, SSM_CONV);
    c.batch = 2, c.n = 20000, c.channels = 700, c.kernel = 4, c.split1 = 5000, c.split2 = 19998;
    add(t, &c);
}

/* ---- bench/cuda/gpu_linear.cu ------------------------------------------------------ */

/* B = 1 over 4K / 16K / 64K tokens (--lengths replaces them): SSD with 16 heads of 128
 * channels, state 128, one group, chunks of 64 (the default) and 256 (Mamba-2's); the
 * selective scan over 16 x 128 = 2048 channels, state 16; conv1d over those channels, kernel 4. */
static void bench_gpu(table *t) {
    static const int64_t lengths[] = {4096, 16384, 65536}, quick_lengths[] = {4096};
    for (int quick = 0; quick < 2; quick++) {
        const int64_t *L = quick ? quick_lengths : lengths;
        int nl = quick ? 1 : 3;
        if (t->axes && t->axes->n_lengths > 0) L = t->axes->lengths, nl = t->axes->n_lengths;
        for (int i = 0; i < nl; i++) {
            const unsigned lv = quick ? CASE_QUICK : CASE_FULL;
            ssm_case c = make("ssd", SSM_BENCH_GPU, lv, SSM_SSD);
            c.n = c.split1 = c.split2 = L[i], c.heads = 16, c.head_dim = 128, c.state = 128, c.chunk = 64, c.z = 0;
            add(t, &c);
            c.chunk = 256;
            add(t, &c);
            c = make("scan", SSM_BENCH_GPU, lv, SSM_SCAN);
            c.n = c.split1 = c.split2 = L[i], c.channels = 2048, c.state = 16;
            add(t, &c);
            c = make("conv1d", SSM_BENCH_GPU, lv, SSM_CONV);
            c.n = c.split1 = c.split2 = L[i], c.channels = 2048, c.kernel = 4;
            add(t, &c);
        }
    }
}

ssm_case *ssm_cases_select(unsigned groups, int level, const case_axes *axes, int *count) {
    table t = {groups, level, axes, NULL, 0, 0, 0};
    gpu_fixed(&t);
    bench_gpu(&t);
    return case_selection(t.out, t.n, t.failed, sizeof(ssm_case), count);
}
