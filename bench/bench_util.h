/* Timing, resident-memory and input helpers shared by the benchmarks and the longctx
 * command. */
#ifndef LONGCTX_BENCH_UTIL_H
#define LONGCTX_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "longctx.h"

#include <cJSON.h>

double bench_now(void); /* seconds, monotonic */

/* Resident memory: current, and the peak since the last bench_peak_reset(). The reset
 * uses /proc/self/clear_refs ("5"); when it is unavailable the peak is the process's. */
size_t bench_rss_bytes(void);
size_t bench_peak_rss_bytes(void);
int bench_peak_reset(void);

/* A [1, n, heads, d] tensor of the given dtype filled with normal draws (mean 0, sd 1)
 * under seed; the buffer is owned by the returned view (free with bench_tensor_free).
 * Out of memory, it exits with status 1 saying how many bytes were asked for (the
 * commands check their sizes against the machine's memory before they start). */
lc_tensor bench_tensor_random(lc_dtype t, int64_t n, int64_t heads, int64_t d, uint64_t seed);
/* An output tensor, every byte 0xff (NaN in f32, f16 and bf16: an element a kernel fails to
 * write shows), its pages touched before any timed run. */
lc_tensor bench_tensor_output(lc_dtype t, int64_t n, int64_t heads, int64_t d);
void bench_tensor_free(lc_tensor *t);

/* The copy ceiling: two buffers of `bytes`, touched once (bench_copy_init: 0, or 1 when
 * out of memory, with nothing left allocated), and a memcpy on `threads` threads, each
 * copying its slice: GB/s read + written, of one copy (bench_copy_once) or the best of 3. */
typedef struct bench_copy {
    char *a, *b;
    size_t bytes;
} bench_copy;
int bench_copy_init(bench_copy *c, size_t bytes);
void bench_copy_free(bench_copy *c);
double bench_copy_once(const bench_copy *c, int threads);
double bench_copy_gbs(const bench_copy *c, int threads);

/* The median of x[0 .. n) (n <= 64; 0 when n = 0); x is left as it was. */
double bench_median(const double *x, int n);

/* OpenBLAS sgemm on square n x n matrices with all threads: GFLOP/s (best of reps). */
double bench_sgemm_gflops(int n, int reps);
/* The same on `threads` threads (OpenBLAS's OpenMP build follows omp_set_num_threads). */
double bench_sgemm_gflops_on(int n, int reps, int threads);
/* Writes `root` as JSON to `path` (says so on stderr), then frees it; 0 on success, 1 if the
 * file could not be written (said on stderr). Benchmarks call it only with the path given
 * with --json, after every case succeeded. */
int bench_write_json(cJSON *root, const char *path);

/* The kernel family OpenBLAS chose for this CPU ("Haswell", "SkylakeX", ...). */
const char *bench_blas_core(void);

/* The peak of longctx's own matrix micro-kernel (the flash kernel's score product, on tiles
 * of 128 queries x 256 keys x d 128 that stay in cache, each thread its own), on `threads`
 * threads: GFLOP/s, best of reps. The other ceiling beside OpenBLAS's sgemm. */
double bench_tile_gflops(int threads, int reps);

/* Whether OpenBLAS runs at this CPU's speed: a 512^3 sgemm on one thread against longctx's
 * own micro-kernel on one thread (bench_tile_gflops), measured once per process. */
typedef struct bench_blas_speed {
    const char *core;      /* OpenBLAS's kernel family */
    double sgemm_gflops;   /* one thread */
    double own_gflops;     /* one thread */
    int slow;              /* sgemm below BENCH_BLAS_SLOW of own */
} bench_blas_speed;
#define BENCH_BLAS_SLOW 0.6
const bench_blas_speed *bench_blas_measure(void);
/* Measures (once) and, when OpenBLAS is slow, says so on stderr (once) with the figures,
 * which kernels still depend on it, and how to pick OpenBLAS's right kernels; `who` starts
 * the line ("bench attention"). Returns the measurement. */
const bench_blas_speed *bench_blas_warn(const char *who);

/* "1.5 GiB", "512 KiB" into buf. */
const char *bench_bytes_str(double bytes, char *buf, size_t n);

#endif
