/* Thread counts: the caller's, or $LONGCTX_THREADS, or what OpenMP reports. */
#include "longctx/core.h"

#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int lc_threads_default(void) {
    const char *env = getenv("LONGCTX_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n > 0 && n <= 4096) return (int)n;
    }
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

int lc_threads_resolve(int requested) { return requested > 0 ? requested : lc_threads_default(); }
