/* What the case tables share (attention_cases.h, decode_cases.h): run levels, the axes a
 * benchmark's command line may replace, and the draws of random cases.
 *
 * A case table holds the shapes, masks, dtypes and tolerances of one kernel's cases, once,
 * for every program that runs them: the CPU test, the GPU test and the CPU and GPU
 * benchmarks. Each case names the groups it belongs to (a program, and the part of it that
 * runs the case) and the levels it runs at; a program asks the table for its groups at its
 * level. Input values are not in the tables: every program draws them fresh from its run's
 * seed. Plain C11, compiled into the CPU test helpers and benchmark library and into the
 * CUDA programs (C++: the declarations are extern "C"). */
#ifndef LONGCTX_TEST_CASES_H
#define LONGCTX_TEST_CASES_H

#include <stdint.h>
#include <stdlib.h>

#include "longctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Levels: a program runs at one, a case lists those it belongs to. The CPU tests and the
 * benchmarks' default runs are CASE_FULL; --quick is CASE_QUICK; the GPU tests' --smoke
 * (a few small cases of each kind, for compute-sanitizer) is CASE_SMOKE. */
enum {
    CASE_FULL = 1,
    CASE_QUICK = 2,
    CASE_SMOKE = 4,
    CASE_FULL_QUICK = CASE_FULL | CASE_QUICK,
    CASE_ALL_LEVELS = CASE_FULL | CASE_QUICK | CASE_SMOKE,
};

/* A benchmark's axes from its command line (--lengths, --dims): where set (n > 0), they
 * replace the table's for the cases built over them (the grids); fixed cases keep theirs. */
typedef struct case_axes {
    const int64_t *lengths;
    int n_lengths;
    const int64_t *dims;
    int n_dims;
} case_axes;

/* A draw in [0, n) from (seed, *counter), advancing the counter: the random cases' shapes
 * come from the caller's seed, fresh each run. */
static inline uint64_t case_below(uint64_t seed, uint64_t *counter, uint64_t n) { return lc_rng_below(seed, (*counter)++, n); }
static inline double case_uniform(uint64_t seed, uint64_t *counter) { return lc_rng_uniform(seed, (*counter)++); }

/* The case array `items` (n of cap elements of elem bytes) with room for one more: itself,
 * or grown (64 at first, then doubled); NULL when out of memory (items is kept). */
static inline void *case_room(void *items, int n, int *cap, size_t elem) {
    if (n < *cap) return items;
    const int grown_cap = *cap ? 2 * *cap : 64;
    void *grown = realloc(items, elem * (size_t)grown_cap);
    if (grown) *cap = grown_cap;
    return grown;
}

/* A table's selection handed to its caller: the n cases (*count = n; an empty selection is a
 * valid, freeable array, not a failure), or NULL with *count = 0 when building it failed. */
static inline void *case_selection(void *items, int n, int failed, size_t elem, int *count) {
    if (failed) {
        free(items);
        *count = 0;
        return NULL;
    }
    *count = n;
    return items ? items : malloc(elem);
}

/* 2^-p of a storage dtype's significand: what storing a value in it may change, relative
 * to the value (0 for f32, whose rounding the tolerances already cover). */
static inline double case_rounding(lc_dtype t) { return t == LC_BF16 ? 0x1p-8 : t == LC_F16 ? 0x1p-11 : 0; }

#ifdef __cplusplus
}
#endif
#endif
