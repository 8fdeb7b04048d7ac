/* Timing, resident-memory and input helpers shared by the benchmarks and the command. */
#include "bench_util.h"
#include "../src/attention/flash_tile.h" /* the micro-kernel whose peak is one ceiling */

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>

double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static size_t status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kib = 0, klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen)) {
            kib = (size_t)strtoull(line + klen, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

size_t bench_rss_bytes(void) { return status_kib("VmRSS:") * 1024; }
size_t bench_peak_rss_bytes(void) { return status_kib("VmHWM:") * 1024; }

int bench_peak_reset(void) {
#ifdef __GLIBC__
    malloc_trim(0); /* hand freed heap pages back, so the next run's pages count as its own */
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Elements and bytes of an n x heads x d tensor of t, or exits (status 1) saying what was asked. */
static size_t tensor_bytes(lc_dtype t, int64_t n, int64_t heads, int64_t d, size_t *count) {
    double want = (double)n * (double)heads * (double)d * (double)lc_dtype_size(t);
    if (n < 1 || heads < 1 || d < 1 || want > (double)(SIZE_MAX / 8)) {
        fprintf(stderr, "a %lld x %lld x %lld %s tensor (%.0f bytes) is not one this machine can hold\n", (long long)n, (long long)heads,
                (long long)d, lc_dtype_name(t), want);
        exit(1);
    }
    *count = (size_t)n * (size_t)heads * (size_t)d;
    return *count * lc_dtype_size(t);
}

static void *must_alloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory: %s needs %zu bytes\n", what, bytes);
        exit(1);
    }
    return p;
}

lc_tensor bench_tensor_random(lc_dtype t, int64_t n, int64_t heads, int64_t d, uint64_t seed) {
    size_t count, bytes = tensor_bytes(t, n, heads, d, &count);
    float *f = must_alloc(count * sizeof(float), "a random input tensor (f32 draws)");
    void *buf = must_alloc(bytes, "a random input tensor");
    lc_rng_fill_normal(f, count, seed, 0, 0.0f, 1.0f, 0);
    lc_convert(buf, t, f, LC_F32, count);
    free(f);
    return lc_tensor_bshd(buf, t, 1, n, heads, d);
}

lc_tensor bench_tensor_output(lc_dtype t, int64_t n, int64_t heads, int64_t d) {
    size_t count, bytes = tensor_bytes(t, n, heads, d, &count);
    void *buf = must_alloc(bytes, "an output tensor");
    memset(buf, 0xff, bytes);
    return lc_tensor_bshd(buf, t, 1, n, heads, d);
}

void bench_tensor_free(lc_tensor *t) {
    free(t->data);
    t->data = NULL;
}

double bench_sgemm_gflops(int n, int reps) {
    float *a = malloc(sizeof(float) * (size_t)n * (size_t)n), *b = malloc(sizeof(float) * (size_t)n * (size_t)n),
          *c = malloc(sizeof(float) * (size_t)n * (size_t)n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    lc_rng_fill_uniform(a, (size_t)n * (size_t)n, 1, 0, -1, 1, 0);
    lc_rng_fill_uniform(b, (size_t)n * (size_t)n, 2, 0, -1, 1, 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n); /* warm up */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = bench_now() - t;
        if (t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * (double)n * n / best * 1e-9;
}

double bench_sgemm_gflops_on(int n, int reps, int threads) {
#ifdef _OPENMP
    const int outer = omp_get_max_threads();
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    const double g = bench_sgemm_gflops(n, reps);
#ifdef _OPENMP
    omp_set_num_threads(outer);
#endif
    return g;
}

const char *bench_bytes_str(double bytes, char *buf, size_t n) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, u++;
    snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", bytes, unit[u]);
    return buf;
}

const char *bench_blas_core(void) { return openblas_get_corename(); }

double bench_tile_gflops(int threads, int reps) {
    enum { NQ = 128, NK = 256, D = 128 };
    lc_isa isa;
    lc_isa_resolve(LC_ISA_AUTO, &isa);
    const lc_flash_tile_ops *t = lc_flash_tile_ops_for(isa);
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double seconds = 0;
        int ok = 1;
#pragma omp parallel num_threads(threads) reduction(max : seconds) reduction(&& : ok)
        {
            float *qp = lc_aligned_alloc(sizeof(float) * NQ * D, 64), *k = lc_aligned_alloc(sizeof(float) * NK * D, 64);
            float *st = lc_aligned_alloc(sizeof(float) * NK * (NQ + 16), 64), *cm = lc_aligned_alloc(sizeof(float) * NQ, 64);
            ok = qp && k && st && cm;
            if (ok) {
                for (int i = 0; i < NQ * D; i++) qp[i] = 1e-3f * (float)(i % 7);
                for (int i = 0; i < NK * D; i++) k[i] = 1e-3f * (float)(i % 5);
                t->scores_t(st, NQ + 16, cm, k, D, NK, qp, NQ, D); /* warm */
#pragma omp barrier
                double t0 = bench_now();
                for (int i = 0; i < 8; i++) t->scores_t(st, NQ + 16, cm, k, D, NK, qp, NQ, D);
                seconds = (bench_now() - t0) / 8;
            }
            lc_aligned_free(qp), lc_aligned_free(k), lc_aligned_free(st), lc_aligned_free(cm);
        }
        if (!ok) return 0;
        const double g = 2.0 * NQ * NK * D * threads / seconds * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

/* One thread's sgemm: n^3, best of reps (OpenBLAS runs single-threaded in a one-thread team). */
static double sgemm_one_thread(int n, int reps) {
    double best = 0;
#pragma omp parallel num_threads(1)
    {
#ifdef _OPENMP
        omp_set_num_threads(1);
#endif
        float *a = malloc(sizeof(float) * (size_t)n * (size_t)n), *b = malloc(sizeof(float) * (size_t)n * (size_t)n),
              *c = malloc(sizeof(float) * (size_t)n * (size_t)n);
        if (a && b && c) {
            lc_rng_fill_uniform(a, (size_t)n * (size_t)n, 1, 0, -1, 1, 0);
            lc_rng_fill_uniform(b, (size_t)n * (size_t)n, 2, 0, -1, 1, 0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
            for (int r = 0; r < reps; r++) {
                double t = bench_now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
                t = bench_now() - t;
                const double g = 2.0 * n * (double)n * n / t * 1e-9;
                if (g > best) best = g;
            }
        }
        free(a), free(b), free(c);
    }
    return best;
}

const bench_blas_speed *bench_blas_measure(void) {
    static bench_blas_speed s;
    static int done;
    if (!done) {
        s.core = bench_blas_core();
        for (int r = 0; r < 3; r++) { /* alternately, so both see the same machine */
            const double g = sgemm_one_thread(512, 2), o = bench_tile_gflops(1, 2);
            if (g > s.sgemm_gflops) s.sgemm_gflops = g;
            if (o > s.own_gflops) s.own_gflops = o;
        }
        s.slow = s.own_gflops > 0 && s.sgemm_gflops < BENCH_BLAS_SLOW * s.own_gflops;
        done = 1;
    }
    return &s;
}

const bench_blas_speed *bench_blas_warn(const char *who) {
    static int said;
    const bench_blas_speed *s = bench_blas_measure();
    if (!s->slow || said) return s;
    said = 1;
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *fix = lc_isa_supported(LC_ISA_AVX512) ? "SkylakeX" : lc_isa_supported(LC_ISA_AVX2) ? "Haswell" : NULL;
    fprintf(stderr,
            "%s: note: OpenBLAS (%s kernels%s) runs sgemm at %.0f GFLOP/s on one thread, %.0f%% of the %.0f GFLOP/s of longctx's own "
            "micro-kernel on this CPU. Flash attention and decoding do not use it; chunked linear attention, the chunked SSD, MLA "
            "prefill and model layers with f32 / f16 weights do, and run that much slower.",
            who, s->core, env ? ", chosen by OPENBLAS_CORETYPE in the environment" : ", as OpenBLAS detected this CPU", s->sgemm_gflops,
            100 * s->sgemm_gflops / s->own_gflops, s->own_gflops);
    if (fix && (!env || strcmp(env, fix))) fprintf(stderr, " OPENBLAS_CORETYPE=%s selects its kernels for this CPU's vector units.", fix);
    fputc('\n', stderr);
    return s;
}

int bench_write_json(cJSON *root, const char *path) {
    char *text = cJSON_Print(root);
    FILE *f = text ? fopen(path, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    if (ok) fprintf(stderr, "wrote %s\n", path);
    else fprintf(stderr, "could not write %s: %s\n", path, text ? strerror(errno) : "out of memory");
    free(text);
    cJSON_Delete(root);
    return ok ? 0 : 1;
}

int bench_copy_init(bench_copy *c, size_t bytes) {
    c->bytes = bytes, c->a = malloc(bytes), c->b = malloc(bytes);
    if (!c->a || !c->b) {
        bench_copy_free(c);
        return 1;
    }
    memset(c->a, 1, bytes), memset(c->b, 2, bytes);
    return 0;
}

void bench_copy_free(bench_copy *c) {
    free(c->a), free(c->b);
    c->a = c->b = NULL;
}

double bench_copy_once(const bench_copy *c, int threads) {
    const size_t slice = c->bytes / (size_t)threads / 64 * 64;
    double t = bench_now();
#pragma omp parallel for num_threads(threads)
    for (int i = 0; i < threads; i++) memcpy(c->b + slice * (size_t)i, c->a + slice * (size_t)i, slice);
    t = bench_now() - t;
    return 2.0 * (double)(slice * (size_t)threads) / t / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *x, int n) {
    double s[64];
    if (n <= 0 || n > 64) return 0;
    memcpy(s, x, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double bench_copy_gbs(const bench_copy *c, int threads) {
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double g = bench_copy_once(c, threads);
        if (g > best) best = g;
    }
    return best;
}
