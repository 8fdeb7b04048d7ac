/* lc_matmul: validation, the plan of a call (streaming, the bf16 product, or sgemm over
 * widened tiles), the threads, and the float64 reference. */
#include <cblas.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../core/tensor_io.h"
#include "matmul_ops.h"

#define ALIGN 64
/* Weight rows per task of the streaming path: 128 rows of 2048 bf16 are 512 KiB, a long run
 * of addresses for each thread's prefetchers, and a 2048-row matrix is still 16 tasks handed
 * out dynamically. Decoding the 1.1 B model on 2 threads (bench/model, bf16): 16 rows a task
 * 71-74 % of the memcpy ceiling, 128 rows 82-87 %, 512 rows 81-82 %. */
#define STREAM_ROWS_PER_TASK 128
/* Weight rows per task of the bf16 product (a multiple of its 12-row micro-kernel). */
#define GEMM_ROWS_PER_TASK 48
/* Weight rows per sgemm tile, each an sgemm call on one thread (widened first from f16 / bf16
 * into that thread's scratch). OpenBLAS packs x again for every call: 128 rows keep that to
 * 1/256 of the tile's FLOPs; chunks of 512 rows widened by all threads, then one threaded sgemm
 * each, ran at 26 GFLOP/s against 67 for one threaded sgemm over all of W (512 x 2048 x 2048,
 * a loaded machine: every call's team waits for its threads to be scheduled). */
#define TILE_ROWS 128

static int64_t or_default(int64_t v, int64_t dflt) { return v ? v : dflt; }

/* The descriptor with its leading dimensions filled in. */
static lc_matmul normalised(const lc_matmul *d) {
    lc_matmul n = *d;
    n.ldx = or_default(d->ldx, d->k), n.ldw = or_default(d->ldw, d->k), n.ldy = or_default(d->ldy, d->n);
    n.threads = d->pool ? lc_pool_threads(d->pool) : lc_threads_resolve(d->threads);
    return n;
}

static int overlaps(const void *a, size_t abytes, const void *b, size_t bbytes) {
    uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a && b && a0 < b0 + bbytes && b0 < a0 + abytes;
}

/* What the plan depends on: the shapes, dtype, threads and ISA. */
static lc_status check_shape(const lc_matmul *d) {
    if (!d) return lc_error(LC_EINVAL, "matmul: descriptor is NULL");
    if (d->m <= 0 || d->n <= 0 || d->k <= 0)
        return lc_error(LC_EINVAL, "matmul: m=%lld, n=%lld and k=%lld must be > 0", (long long)d->m, (long long)d->n, (long long)d->k);
    if (d->k > INT_MAX || d->n > INT_MAX || d->m > INT_MAX)
        return lc_error(LC_EUNSUPPORTED, "matmul: m, n and k must be below 2^31 (m=%lld, n=%lld, k=%lld)", (long long)d->m, (long long)d->n,
                        (long long)d->k);
    if (!lc_dtype_is_float(d->w_dtype))
        return lc_error(LC_EUNSUPPORTED, "matmul: w_dtype=%s; the weights must be f32, f16 or bf16", lc_dtype_name(d->w_dtype));
    const struct { const char *name; int64_t ld, min; } ld[3] = {{"ldx", d->ldx, d->k}, {"ldw", d->ldw, d->k}, {"ldy", d->ldy, d->n}};
    for (int i = 0; i < 3; i++)
        if (ld[i].ld != 0 && (ld[i].ld < ld[i].min || ld[i].ld > INT_MAX))
            return lc_error(LC_EINVAL, "matmul: %s=%lld must be 0 or in [%lld, 2^31)", ld[i].name, (long long)ld[i].ld, (long long)ld[i].min);
    if (d->threads < 0) return lc_error(LC_EINVAL, "matmul: threads=%d must be >= 0", d->threads);
    lc_isa isa;
    return lc_isa_resolve(d->isa, &isa);
}

lc_status lc_matmul_check(const lc_matmul *d) {
    lc_status st = check_shape(d);
    if (st) return st;
    if (!d->x || !d->w || !d->y) return lc_error(LC_EINVAL, "matmul: x, w and y must not be NULL");
    const size_t es = lc_dtype_size(d->w_dtype);
    if ((uintptr_t)d->w % es || (uintptr_t)d->x % sizeof(float) || (uintptr_t)d->y % sizeof(float) || (uintptr_t)d->bias % sizeof(float))
        return lc_error(LC_EINVAL, "matmul: x, y and bias must be aligned to 4 bytes and w to its element size (%zu)", es);
    lc_matmul n = normalised(d);
    const size_t xb = (size_t)((n.m - 1) * n.ldx + n.k) * sizeof(float), wb = (size_t)((n.n - 1) * n.ldw + n.k) * es,
                 yb = (size_t)((n.m - 1) * n.ldy + n.n) * sizeof(float);
    if (overlaps(d->y, yb, d->x, xb) || overlaps(d->y, yb, d->w, wb) || overlaps(d->y, yb, d->bias, (size_t)n.n * sizeof(float)))
        return lc_error(LC_EINVAL, "matmul: y overlaps x, w or bias");
    return LC_OK;
}

static const lc_matmul_ops *ops_of(const lc_matmul *d) {
    lc_isa isa;
    if (lc_isa_resolve(d->isa, &isa)) return NULL;
    return lc_matmul_ops_for(isa);
}

int lc_matmul_rounds_x(const lc_matmul *d) {
    if (check_shape(d) || d->x_f32 || d->w_dtype != LC_BF16) return 0;
    return ops_of(d)->gemm_bf16 != NULL;
}

/* The plan of a call: which path, and the workspace's parts. */
typedef enum path { STREAM, GEMM_BF16, SGEMM_TILES } path;

typedef struct plan {
    path path;
    int rounds;
    int64_t ldq;          /* STREAM with rounding: elements per rounded row */
    int64_t blocks, pairs;/* GEMM_BF16: blocks of 16 rows, column pairs */
    size_t bytes;         /* the workspace (without alignment slack) */
    size_t tile_floats;   /* SGEMM_TILES: each thread's widened tile (0: f32 weights, used in place) */
} plan;

static plan make_plan(const lc_matmul *n) {
    plan p;
    memset(&p, 0, sizeof p);
    p.rounds = lc_matmul_rounds_x(n);
    if (n->m < LC_MATMUL_STREAM_ROWS) {
        p.path = STREAM;
        if (p.rounds) p.ldq = (n->k + 31) / 32 * 32, p.bytes = (size_t)(n->m * p.ldq) * sizeof(uint16_t);
    } else if (p.rounds) {
        p.path = GEMM_BF16;
        p.blocks = (n->m + LC_MATMUL_MB - 1) / LC_MATMUL_MB, p.pairs = (n->k + 1) / 2;
        p.bytes = (size_t)(p.blocks * p.pairs * LC_MATMUL_MB) * sizeof(uint32_t);
    } else {
        p.path = SGEMM_TILES;
        if (n->w_dtype != LC_F32) {
            p.tile_floats = (size_t)((TILE_ROWS < n->n ? TILE_ROWS : n->n) * n->k + 16) / 16 * 16;
            p.bytes = p.tile_floats * sizeof(float) * (size_t)n->threads;
        }
    }
    return p;
}

size_t lc_matmul_workspace_size(const lc_matmul *d) {
    if (check_shape(d)) return 0;
    lc_matmul n = normalised(d);
    plan p = make_plan(&n);
    return p.bytes ? p.bytes + ALIGN : 0;
}

/* One call's shared state, for the tasks of its paths. */
typedef struct job {
    const lc_matmul *d;
    const lc_matmul_ops *ops;
    uint16_t *xq;  /* STREAM: rounded rows of x, or NULL */
    int64_t ldq;
    uint32_t *xp;  /* GEMM_BF16: packed x */
    int64_t blocks;
    float *tiles;  /* SGEMM_TILES: tile_floats per thread, or NULL */
    size_t tile_floats;
} job;

static void stream_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const job *j = arg;
    const int64_t j0 = t * STREAM_ROWS_PER_TASK, j1 = j0 + STREAM_ROWS_PER_TASK < j->d->n ? j0 + STREAM_ROWS_PER_TASK : j->d->n;
    j->ops->stream(j->d, j->xq, j->ldq, j0, j1);
}

static void pack_task(void *arg, int64_t b, int thread) {
    (void)thread;
    const job *j = arg;
    j->ops->pack_bf16(j->d, j->xp, b, b + 1);
}

static void gemm_task(void *arg, int64_t t, int thread) {
    (void)thread;
    const job *j = arg;
    const int64_t j0 = t * GEMM_ROWS_PER_TASK, j1 = j0 + GEMM_ROWS_PER_TASK < j->d->n ? j0 + GEMM_ROWS_PER_TASK : j->d->n;
    j->ops->gemm_bf16(j->d, j->xp, j0, j1);
}

/* One sgemm tile: weight rows [t TILE_ROWS, ...) on this thread alone. */
static void sgemm_task(void *arg, int64_t t, int thread) {
    const job *j = arg;
    const lc_matmul *d = j->d;
    const int64_t j0 = t * TILE_ROWS, rows = j0 + TILE_ROWS < d->n ? TILE_ROWS : d->n - j0;
    const size_t es = lc_dtype_size(d->w_dtype);
    const uint8_t *w = (const uint8_t *)d->w + (size_t)(j0 * d->ldw) * es;
    const float *b = (const float *)w;
    int64_t ldb = d->ldw;
    if (j->tiles) {
        float *tile = j->tiles + j->tile_floats * (size_t)thread;
        for (int64_t r = 0; r < rows; r++) j->ops->widen(tile + r * d->k, w + (size_t)(r * d->ldw) * es, d->w_dtype, d->k);
        b = tile, ldb = d->k;
    }
#ifdef _OPENMP
    const int outer = omp_get_max_threads();
    omp_set_num_threads(1); /* OpenBLAS follows this thread's count: one, inside a task */
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)d->m, (blasint)rows, (blasint)d->k, 1.0f, d->x, (blasint)d->ldx, b, (blasint)ldb,
                0.0f, d->y + j0, (blasint)d->ldy);
#ifdef _OPENMP
    omp_set_num_threads(outer);
#endif
    if (d->bias)
        for (int64_t i = 0; i < d->m; i++)
            for (int64_t c = j0; c < j0 + rows; c++) d->y[i * d->ldy + c] += d->bias[c];
}

lc_status lc_matmul_tiled(const lc_matmul *d, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_matmul_check(d);
    if (st) return st;
    const lc_matmul n = normalised(d);
    const lc_matmul_ops *ops = ops_of(&n);
    const plan p = make_plan(&n);
    if (p.bytes && (!workspace || workspace_bytes < p.bytes + ALIGN))
        return lc_error(LC_EINVAL, "matmul workspace: %zu bytes given, %zu needed", workspace ? workspace_bytes : 0, p.bytes + ALIGN);
    uint8_t *ws = (uint8_t *)(((uintptr_t)workspace + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    const int nt = n.threads;
    if (p.path == STREAM) {
        job j = {&n, ops, p.rounds ? (uint16_t *)ws : NULL, p.ldq, NULL, 0, NULL, 0};
        for (int64_t i = 0; j.xq && i < n.m; i++) ops->round_bf16(j.xq + i * p.ldq, n.x + i * n.ldx, n.k, p.ldq);
        const int64_t tasks = (n.n + STREAM_ROWS_PER_TASK - 1) / STREAM_ROWS_PER_TASK;
        if (n.pool) return lc_pool_run(n.pool, tasks, stream_task, &j);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt < tasks ? nt : (int)tasks)
        for (int64_t t = 0; t < tasks; t++) stream_task(&j, t, 0);
        return LC_OK;
    }
    if (p.path == GEMM_BF16) {
        job j = {&n, ops, NULL, 0, (uint32_t *)ws, p.blocks, NULL, 0};
        const int64_t tasks = (n.n + GEMM_ROWS_PER_TASK - 1) / GEMM_ROWS_PER_TASK;
        if (n.pool) {
            lc_status st2 = lc_pool_run(n.pool, p.blocks, pack_task, &j);
            return st2 ? st2 : lc_pool_run(n.pool, tasks, gemm_task, &j);
        }
#pragma omp parallel num_threads(nt)
        {
#pragma omp for schedule(static)
            for (int64_t b = 0; b < p.blocks; b++) pack_task(&j, b, 0);
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < tasks; t++) gemm_task(&j, t, 0);
        }
        return LC_OK;
    }
    /* sgemm on tiles of weight rows, each on one thread */
    job j = {&n, ops, NULL, 0, NULL, 0, p.tile_floats ? (float *)ws : NULL, p.tile_floats};
    const int64_t tasks = (n.n + TILE_ROWS - 1) / TILE_ROWS;
    if (n.pool) return lc_pool_run(n.pool, tasks, sgemm_task, &j);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt < tasks ? nt : (int)tasks)
    for (int64_t t = 0; t < tasks; t++) {
#ifdef _OPENMP
        sgemm_task(&j, t, omp_get_thread_num());
#else
        sgemm_task(&j, t, 0);
#endif
    }
    return LC_OK;
}

lc_status lc_matmul_tiled_alloc(const lc_matmul *d) {
    lc_status st = lc_matmul_check(d);
    if (st) return st;
    size_t bytes = lc_matmul_workspace_size(d);
    void *ws = bytes ? lc_aligned_alloc(bytes, ALIGN) : NULL;
    if (bytes && !ws) return lc_error(LC_ENOMEM, "matmul workspace of %zu bytes", bytes);
    st = lc_matmul_tiled(d, ws, bytes);
    lc_aligned_free(ws);
    return st;
}

lc_status lc_matmul_naive(const lc_matmul *d) {
    lc_status st = lc_matmul_check(d);
    if (st) return st;
    const lc_matmul n = normalised(d);
    const int rounds = lc_matmul_rounds_x(&n);
    for (int64_t i = 0; i < n.m; i++)
        for (int64_t j = 0; j < n.n; j++) {
            const uint8_t *wr = (const uint8_t *)n.w + (size_t)(j * n.ldw) * lc_dtype_size(n.w_dtype);
            double s = n.bias ? n.bias[j] : 0;
            for (int64_t e = 0; e < n.k; e++) {
                float xv = n.x[i * n.ldx + e];
                if (rounds) xv = lc_bf16_to_f32(lc_f32_to_bf16(xv));
                s += (double)xv * lc_load_elem(wr, n.w_dtype, e);
            }
            n.y[i * n.ldy + j] = (float)s;
        }
    return LC_OK;
}
