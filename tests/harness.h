/* A small test harness: CHECK counts and reports, the seed is printed so a failure
 * reproduces (LONGCTX_TEST_SEED=... to replay). */
#ifndef LONGCTX_TEST_HARNESS_H
#define LONGCTX_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#include "longctx.h"

extern long test_checks, test_failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        test_checks++;                                                                         \
        if (!(cond)) {                                                                         \
            test_failures++;                                                                   \
            if (test_failures <= 50) {                                                         \
                fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);      \
                fprintf(stderr, __VA_ARGS__);                                                  \
                fputc('\n', stderr);                                                           \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* The run's seed: $LONGCTX_TEST_SEED or fresh from the clock; printed. */
uint64_t test_seed(const char *program);
/* A stream of draws for a test: test_rand(state) advances a counter under the seed. */
typedef struct test_rng {
    uint64_t seed, counter;
} test_rng;
uint64_t test_below(test_rng *r, uint64_t n); /* [0, n) */
double test_uniform(test_rng *r);              /* [0, 1) */

/* Prints "<program>: N passed, N failed" and returns the exit code. */
int test_finish(const char *program);

#endif
