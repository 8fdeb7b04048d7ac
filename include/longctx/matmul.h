/* Products with a layer's weights, read where they lie: y = x W^T (+ bias), W [n, k] row-major
 * as Hugging Face stores a Linear's weight, in f32, f16 or bf16 (e.g. a safetensors mapping),
 * accumulation in f32. The model runner's linear layers (docs/models.md).
 *
 *   y[i, j] = sum_e x[i, e] W[j, e]  (+ bias[j])      i < m, j < n, e < k
 *
 * A few rows of x (decode: m < LC_MATMUL_STREAM_ROWS) stream each weight row once, the output
 * rows split over the threads: the product runs at the memory's speed. Many rows (prefill)
 * run as a matrix product: on CPUs with AVX-512 BF16, bf16 weights multiply a bf16 copy of x
 * with `vdpbf16ps` (no conversion of W); otherwise tiles of W (widened to f32 from f16 / bf16,
 * f32 in place) go through OpenBLAS sgemm, one tile per call on one thread. */
#ifndef LONGCTX_MATMUL_H
#define LONGCTX_MATMUL_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of x below which each weight row is streamed once for all of them (the decode path). */
#define LC_MATMUL_STREAM_ROWS 16

typedef struct lc_matmul {
    int64_t m, n, k;
    const float *x;     /* [m, k] f32, rows ldx apart */
    int64_t ldx;        /* 0: k */
    const void *w;      /* [n, k], rows ldw apart; f32, f16 or bf16, aligned to its element size */
    lc_dtype w_dtype;
    int64_t ldw;        /* 0: k */
    const float *bias;  /* [n] or NULL */
    float *y;           /* [m, n] f32, rows ldy apart, written; must not overlap x, w or bias */
    int64_t ldy;        /* 0: n */
    int threads;        /* 0: lc_threads_default() */
    lc_pool *pool;      /* NULL: OpenMP threads; else the library's own loops run on the pool's threads
                         * (threads then ignored), for callers that make many short calls */
    lc_isa isa;         /* LC_ISA_AUTO: the best path this CPU runs (AVX-512, AVX2, portable) */
    int x_f32;          /* bf16 weights. 0: on CPUs with AVX512-BF16 x is rounded to bf16 once per
                         * call and the products are bf16 pairs with f32 sums (vdpbf16ps), as
                         * llama.cpp and PyTorch multiply bf16 weights; 1: x stays f32 and each
                         * weight is widened exactly (the sums of f32 products, slower for many
                         * rows). f16 and f32 weights always multiply f32 x. */
} lc_matmul;

lc_status lc_matmul_check(const lc_matmul *d);
/* Caller memory for lc_matmul_tiled (0 is a valid answer: f32 weights, or few rows of x kept
 * f32). It depends on m, n, k, w_dtype, x_f32, threads and isa only: the pointers may be unset. */
size_t lc_matmul_workspace_size(const lc_matmul *d);
/* The product. Each output element is summed by one thread in a fixed order (sgemm: tiles of
 * 128 weight rows, each one single-threaded call): the result is bitwise the same for any
 * thread count. */
lc_status lc_matmul_tiled(const lc_matmul *d, void *workspace, size_t workspace_bytes);
/* Convenience: lc_matmul_tiled with a workspace it allocates and frees. */
lc_status lc_matmul_tiled_alloc(const lc_matmul *d);
/* The reference: float64 sums of x (rounded to bf16 first where lc_matmul_rounds_x says so)
 * times the stored weights, stored to f32. */
lc_status lc_matmul_naive(const lc_matmul *d);
/* 1 if lc_matmul_tiled rounds x to bf16 for this call (see x_f32), else 0; like the workspace,
 * a question about the shape, dtype and ISA only. */
int lc_matmul_rounds_x(const lc_matmul *d);

#ifdef __cplusplus
}
#endif
#endif
