/* lc_pool: worker threads that wait politely. OpenMP's teams end every parallel region in a
 * barrier, and libgomp's idle threads spin for milliseconds (OMP_WAIT_POLICY, read once when
 * the process starts: a library cannot change it). With more runnable threads than cores, a
 * spinning thread takes the core from the one with work, and every region waits for every
 * thread of its team to be scheduled. A pool's job is done when its tasks are, whoever ran
 * them: a worker the machine has not scheduled yet claims nothing and holds nothing up, and a
 * waiting thread yields its core, then sleeps.
 *
 * A job is published as a 64-bit ticket (epoch, tasks, next task): a worker claims a task by
 * a compare-and-swap on the ticket of the epoch it saw, so a worker that wakes late can never
 * run a task of a later job with the function of an earlier one. */
#define _GNU_SOURCE /* sched_yield */
#include "longctx/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define TASK_BITS 20 /* tasks per job: below 2^20 */
#define EPOCH_SHIFT (2 * TASK_BITS)
#define MASK ((UINT64_C(1) << TASK_BITS) - 1)
/* How long an idle thread keeps asking before it sleeps: long enough to bridge the serial
 * steps between two jobs of a forward (norms, RoPE, a short attention), short enough that an
 * idle context costs nothing. While it waits it yields its core to any other runnable thread. */
#define YIELD_NS 2000000

typedef void (*pool_fn)(void *arg, int64_t task, int thread);

struct lc_pool {
    int threads; /* the caller and threads - 1 workers */
    pthread_t *workers;
    int started;
    _Atomic uint64_t ticket;   /* epoch << 40 | tasks << 20 | next */
    _Atomic uint64_t epoch;    /* the latest job's */
    _Atomic(pool_fn) fn;
    _Atomic(void *) arg;
    _Atomic int64_t done;      /* tasks of the current job finished */
    _Atomic int stop;
    _Atomic int sleepers;
    _Atomic int next_index;    /* workers' thread numbers: 1 .. threads - 1 */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Claims and runs tasks of epoch e until none is left; returns how many it ran. */
static int64_t drain(lc_pool *p, uint64_t e, pool_fn fn, void *arg, int thread) {
    int64_t ran = 0;
    uint64_t t = atomic_load(&p->ticket);
    for (;;) {
        if (t >> EPOCH_SHIFT != e || (t & MASK) >= ((t >> TASK_BITS) & MASK)) break;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue; /* t reloaded */
        fn(arg, (int64_t)(t & MASK), thread);
        ran++;
        t = atomic_load(&p->ticket);
    }
    return ran;
}

static void *worker(void *vp) {
    lc_pool *p = vp;
    const int thread = atomic_fetch_add(&p->next_index, 1);
    uint64_t seen = 0;
    for (;;) {
        uint64_t e = atomic_load(&p->epoch);
        if (e == seen && !atomic_load(&p->stop)) {
            const uint64_t until = now_ns() + YIELD_NS;
            for (int i = 0; (e = atomic_load(&p->epoch)) == seen && !atomic_load(&p->stop); i++) {
                if ((i & 63) == 63 && now_ns() > until) {
                    pthread_mutex_lock(&p->mu);
                    atomic_fetch_add(&p->sleepers, 1);
                    while ((e = atomic_load(&p->epoch)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
                    atomic_fetch_sub(&p->sleepers, 1);
                    pthread_mutex_unlock(&p->mu);
                    break;
                }
                sched_yield();
            }
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = e;
        pool_fn fn = atomic_load(&p->fn);
        void *arg = atomic_load(&p->arg);
        int64_t ran = drain(p, e, fn, arg, thread);
        if (ran) atomic_fetch_add(&p->done, ran);
    }
}

lc_status lc_pool_create(int threads, lc_pool **out) {
    if (!out) return lc_error(LC_EINVAL, "lc_pool_create: out must not be NULL");
    *out = NULL;
    if (threads < 0 || threads > LC_THREADS_MAX) return lc_error(LC_EINVAL, "pool threads=%d must lie in [0, %d] (0: the default)", threads, LC_THREADS_MAX);
    lc_pool *p = calloc(1, sizeof *p);
    if (!p) return lc_error(LC_ENOMEM, "pool");
    p->threads = lc_threads_resolve(threads);
    atomic_store(&p->next_index, 1);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->workers = calloc((size_t)p->threads, sizeof *p->workers);
    if (!p->workers) {
        lc_pool_destroy(p);
        return lc_error(LC_ENOMEM, "pool");
    }
    for (; p->started < p->threads - 1; p->started++)
        if (pthread_create(&p->workers[p->started], NULL, worker, p)) {
            lc_pool_destroy(p);
            return lc_error(LC_ENOMEM, "pool: could not start worker thread %d of %d", p->started + 1, p->threads - 1);
        }
    *out = p;
    return LC_OK;
}

void lc_pool_destroy(lc_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p);
}

int lc_pool_threads(const lc_pool *p) { return p ? p->threads : 0; }

lc_status lc_pool_run(lc_pool *p, int64_t tasks, void (*fn)(void *arg, int64_t task, int thread), void *arg) {
    if (!p || !fn) return lc_error(LC_EINVAL, "lc_pool_run: pool and fn must not be NULL");
    if (tasks < 0 || tasks > (int64_t)MASK) return lc_error(LC_EINVAL, "lc_pool_run: tasks=%lld must lie in [0, 2^20)", (long long)tasks);
    if (tasks == 0) return LC_OK;
    if (p->threads == 1 || tasks == 1) { /* nobody to wake */
        for (int64_t t = 0; t < tasks; t++) fn(arg, t, 0);
        return LC_OK;
    }
    const uint64_t e = (atomic_load(&p->epoch) + 1) & ((UINT64_C(1) << (64 - EPOCH_SHIFT)) - 1);
    atomic_store(&p->done, 0);
    atomic_store(&p->ticket, e << EPOCH_SHIFT | (uint64_t)tasks << TASK_BITS); /* before fn and arg: see the header */
    atomic_store(&p->fn, fn);
    atomic_store(&p->arg, arg);
    atomic_store(&p->epoch, e);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    int64_t ran = drain(p, e, fn, arg, 0);
    atomic_fetch_add(&p->done, ran);
    for (int i = 0; atomic_load(&p->done) < tasks; i++) /* tasks other threads claimed and still run */
        if (i > 16) sched_yield();
    return LC_OK;
}
