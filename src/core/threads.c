/* Thread counts: the caller's, or $LONGCTX_THREADS, or what OpenMP reports; never more
 * than LC_THREADS_MAX (a count in the tens of thousands overflows the OpenMP runtime's
 * stacks: a crash, not an error). */
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
        if (*end == '\0' && n > 0) return n < LC_THREADS_MAX ? (int)n : LC_THREADS_MAX;
    }
#ifdef _OPENMP
    int procs = omp_get_num_procs();
    return procs < 1 ? 1 : procs < LC_THREADS_MAX ? procs : LC_THREADS_MAX;
#else
    return 1;
#endif
}

int lc_threads_resolve(int requested) {
    if (requested <= 0) return lc_threads_default();
    return requested < LC_THREADS_MAX ? requested : LC_THREADS_MAX;
}
