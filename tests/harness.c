#include "harness.h"

#include <stdlib.h>
#include <time.h>

long test_checks, test_failures;

uint64_t test_seed(const char *program) {
    const char *env = getenv("LONGCTX_TEST_SEED");
    uint64_t seed;
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        seed = (uint64_t)t.tv_sec * 1000003u ^ (uint64_t)t.tv_nsec;
    }
    printf("%s: seed %llu (replay with LONGCTX_TEST_SEED=%llu)\n", program, (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

uint64_t test_below(test_rng *r, uint64_t n) { return lc_rng_below(r->seed, r->counter++, n); }
double test_uniform(test_rng *r) { return lc_rng_uniform(r->seed, r->counter++); }

int test_finish(const char *program) {
    printf("%s: %ld passed, %ld failed\n", program, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}
