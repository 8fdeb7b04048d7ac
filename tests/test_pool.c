/* lc_pool: every task of every job runs exactly once, jobs of many sizes back to back (workers
 * that wake late must not run a later job's tasks with an earlier job's function), after the
 * workers have gone to sleep, with one thread, and bad arguments. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

typedef struct counts {
    _Atomic int *hits;
    int job;
    _Atomic int *wrong_job;
    _Atomic int *current;
    int threads;
} counts;

static void count_task(void *arg, int64_t t, int thread) {
    counts *c = arg;
    if (thread < 0 || thread >= c->threads) atomic_fetch_add(c->wrong_job, 1);
    if (atomic_load(c->current) != c->job) atomic_fetch_add(c->wrong_job, 1);
    atomic_fetch_add(&c->hits[t], 1);
}

static void run_jobs(lc_pool *p, test_rng *r, int jobs, int pause_every) {
    enum { MAXT = 700 };
    _Atomic int hits[MAXT], wrong = 0, current = 0;
    int bad = 0;
    for (int j = 0; j < jobs; j++) {
        int64_t tasks = (int64_t)test_below(r, MAXT);
        for (int64_t t = 0; t < tasks; t++) atomic_store(&hits[t], 0);
        atomic_store(&current, j);
        counts c = {hits, j, &wrong, &current, lc_pool_threads(p)};
        lc_status st = lc_pool_run(p, tasks, count_task, &c);
        for (int64_t t = 0; t < tasks; t++) bad += atomic_load(&hits[t]) != 1;
        CHECK(st == LC_OK, "job %d: %s", j, lc_last_error());
        if (pause_every && j % pause_every == pause_every - 1) {
            struct timespec ts = {0, 3000000}; /* past the workers' yielding: they sleep */
            nanosleep(&ts, NULL);
        }
    }
    CHECK(bad == 0, "%d tasks ran other than once over %d jobs on %d threads", bad, jobs, lc_pool_threads(p));
    CHECK(atomic_load(&wrong) == 0, "%d tasks ran outside their job or with a thread number out of range", atomic_load(&wrong));
}

int main(void) {
    uint64_t seed = test_seed("test_pool");
    test_rng r = {seed, 0};
    const int threads[] = {1, 2, 3, 5};
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
        lc_pool *p = NULL;
        CHECK(lc_pool_create(threads[i], &p) == LC_OK && lc_pool_threads(p) == threads[i], "create %d: %s", threads[i], lc_last_error());
        if (!p) continue;
        run_jobs(p, &r, 3000, 0);
        run_jobs(p, &r, 30, 3);
        lc_pool_destroy(p);
    }
    lc_pool *p = NULL;
    CHECK(lc_pool_create(0, &p) == LC_OK && lc_pool_threads(p) == lc_threads_default(), "default threads");
    CHECK(lc_pool_run(p, -1, count_task, NULL) == LC_EINVAL, "tasks -1");
    CHECK(lc_pool_run(p, 1 << 20, count_task, NULL) == LC_EINVAL, "tasks 2^20");
    CHECK(lc_pool_run(p, 3, NULL, NULL) == LC_EINVAL, "fn NULL");
    CHECK(lc_pool_run(NULL, 3, count_task, NULL) == LC_EINVAL, "pool NULL");
    CHECK(lc_pool_run(p, 0, count_task, NULL) == LC_OK, "no tasks");
    lc_pool_destroy(p);
    CHECK(lc_pool_create(-1, &p) == LC_EINVAL && p == NULL, "threads -1");
    CHECK(lc_pool_create(2, NULL) == LC_EINVAL, "out NULL");
    lc_pool_destroy(NULL);
    return test_finish("test_pool");
}
