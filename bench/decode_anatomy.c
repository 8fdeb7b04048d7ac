/* bench/decode_anatomy: what holds the CPU decode below the copy bandwidth.
 *  compute: the AVX-512 block kernel (decode_ops_avx512.c, an internal table read here on
 *    purpose) over 2 cache-resident blocks x 8 heads with no prefetch, one thread: ns and
 *    cycles per key and head (at the clock a dependent-add loop measures) and the GB/s of
 *    cache slots that rate would read;
 *  DRAM: the same kernel over 256 MiB each of K and V, on one thread and on all, walked as
 *    lc_decode_run walks the cache (token-major rows, blocks of 32 tokens, every head of a
 *    block, the next block's bytes prefetched in address order), without that prefetch, and
 *    over the same bytes stored head-major (each head's rows of all tokens together, the
 *    layout a head-by-head walk reads in address order), against a copy on as many threads.
 * The compute rate caps each thread; the DRAM rows say how much of the rest the read
 * pattern costs and what a head-major cache would gain (docs/kv-cache.md, "Measured").
 * One new token, d = 128, 8 KV heads, 4 query rows per head.
 *   decode_anatomy [--threads N] [--json FILE] */
#include <cJSON.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/attention/decode_ops.h"
#include "bench_util.h"

/* NBLK blocks of K and V stay in a 1 MiB L2 for every dtype (f32: 512 KiB); with 8 blocks
 * (2 MiB of f32, 1 MiB of f16) the compute rows counted L2 misses: f32 85 cycles per key and
 * head against 57-62, f16 55 against 50-52 (bench/results/NOTES.md, eleventh session). */
enum { D = 128, H = 8, R = 4, BT = LC_DECODE_BT, NBLK = 2 };

/* Cycles per second: 4e8 dependent adds (one per cycle on any x86-64 core). */
static double clock_hz(void) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        long x = 0, n = 400000000;
        double t = bench_now();
        __asm__ volatile("1: add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n sub $4, %1\n jnz 1b" : "+r"(x), "+r"(n));
        t = bench_now() - t;
        if (t < best) best = t;
    }
    return 4e8 / best;
}

/* One thread's query rows (f32 and rounded as lc_decode_run rounds them), running state per
 * head and scratch for lc_decode_block. */
typedef struct rows {
    float q[R][D], qs[R], sc[R * BT], cf[R], unit[R], ksc[BT], vsc[BT], m[H][R], l[H][R], acc[H][R * D];
    int8_t qr[R][LC_DECODE_QR_BYTES(D)] __attribute__((aligned(64)));
    int32_t qsum[R];
    const float *qp[R];
    const void *qrp[R];
} rows;

static void rows_init(rows *w, lc_dtype t) {
    memset(w, 0, sizeof *w);
    for (int r = 0; r < R; r++) {
        for (int e = 0; e < D; e++) w->q[r][e] = (float)((r * 37 + e * 11) % 17 - 8) / 8;
        w->qp[r] = w->q[r], w->qrp[r] = w->qr[r];
        for (int h = 0; h < H; h++) w->m[h][r] = -INFINITY;
    }
    if (lc_decode_ops_avx512.rounds_query(t)) lc_decode_round_rows(t, D, w->q[0], R, (uint8_t *)w->qr, w->qs, w->qsum);
}

/* The block kernel on head h of nb keys (rows kt / vt, scales ks / vs by key), prefetching
 * npf bytes at pk and pv. */
static void head_block(rows *w, lc_dtype t, int rounded, const uint8_t *const *kt, const uint8_t *const *vt, int nb, size_t hoff, const float *ks,
                       const float *vs, int h, const uint8_t *pk, const uint8_t *pv, size_t npf) {
    lc_decode_block blk = {.q = w->qp, .R = R, .G = R, .D = D, .nb = nb, .bt = BT, .scale = 0.088f, .t = t, .kt = kt, .vt = vt, .hoff = hoff,
                           .ks = ks, .vs = vs, .vis = 1 << 30, .m = w->m[h], .l = w->l[h], .acc = w->acc[h], .sc = w->sc, .cf = w->cf, .unit = w->unit,
                           .ksc = w->ksc, .vsc = w->vsc, .pk = pk, .pv = pv, .npf = npf,
                           .qr = rounded ? w->qrp : NULL, .qr_scale = w->qs, .qr_sum = w->qsum};
    lc_decode_ops_avx512.block(&blk);
}

/* n bytes of stored values that read as finite numbers in any dtype, placed as the cache
 * places its pools. */
static uint8_t *finite_bytes(size_t n, uint64_t seed) {
    uint8_t *x = lc_stream_alloc(n);
    if (!x) return NULL;
    lc_rng_fill_normal((float *)x, n / 4, seed, 0, 0, 0.1f, 0);
    for (size_t i = 0; i < n; i++) x[i] &= 0xbf; /* clear exponents that would read as inf / nan */
    return x;
}

/* Seconds per key and head of the block kernel on cache-resident data. */
static double compute_seconds(lc_dtype t, int rounded) {
    const size_t es = lc_dtype_size(t), rowb = (size_t)H * D * es, bytes = rowb * BT * NBLK;
    uint8_t *k = finite_bytes(bytes, 1), *v = finite_bytes(bytes, 2);
    static float ks[BT * H * NBLK], vs[BT * H * NBLK];
    static rows w;
    rows_init(&w, t);
    for (int i = 0; i < BT * H * NBLK; i++) ks[i] = vs[i] = 0.01f;
    static const uint8_t *kt[NBLK][BT], *vt[NBLK][BT]; /* each block's tokens */
    for (int b = 0; b < NBLK; b++)
        for (int u = 0; u < BT; u++)
            kt[b][u] = k + rowb * (size_t)(BT * b + u), vt[b][u] = v + rowb * (size_t)(BT * b + u);
    const long iters = 100000;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double s = bench_now();
        for (long it = 0; it < iters; it++) {
            int b = (int)(it % NBLK), h = (int)(it / NBLK % H);
            head_block(&w, t, rounded, kt[b], vt[b], BT, (size_t)h * D * es, ks + (b * H + h) * BT, vs + (b * H + h) * BT, 0, NULL, NULL, 0);
        }
        s = bench_now() - s;
        if (s < best) best = s;
    }
    lc_aligned_free(k), lc_aligned_free(v);
    return best / ((double)iters * BT);
}

/* The block kernel from DRAM over tokens [a, b) of n: pools k, v of n tokens x H heads x hb
 * bytes, scales (or NULL) of n x H floats, stored
 *   token-major (as the cache: token t's rows of all heads together), walked as
 *     lc_decode_run walks them: per block of BT tokens every head, head h prefetching its
 *     share of the next block's bytes in address order (prefetch = 0: none); or
 *   head-major (head h's rows of all tokens together, scales [H][n]): per head every block,
 *     each prefetching the next block of that head. */
static void dram_range(lc_dtype t, int rounded, const uint8_t *k, const uint8_t *v, const float *ks, const float *vs, int64_t n, int64_t a,
                       int64_t b, int head_major, int prefetch) {
    const size_t hb = (size_t)D * lc_dtype_size(t), rowb = hb * H;
    rows *w = lc_aligned_alloc(sizeof(rows), 64); /* qr: aligned loads */
    float ksh[H][BT], vsh[H][BT];
    const uint8_t *kt[BT], *vt[BT];
    rows_init(w, t);
    for (int h = 0; h < (head_major ? H : 1); h++)
        for (int64_t t0 = a; t0 < b; t0 += BT) {
            const int nb = b - t0 < BT ? (int)(b - t0) : BT, next = t0 + BT < b ? (b - t0 - BT < BT ? (int)(b - t0 - BT) : BT) : 0;
            if (head_major) {
                const uint8_t *kh = k + (size_t)h * n * hb, *vh = v + (size_t)h * n * hb;
                for (int u = 0; u < nb; u++) kt[u] = kh + (size_t)(t0 + u) * hb, vt[u] = vh + (size_t)(t0 + u) * hb;
                for (int u = 0; ks && u < nb; u++) ksh[0][u] = ks[h * n + t0 + u], vsh[0][u] = vs[h * n + t0 + u];
                head_block(w, t, rounded, kt, vt, nb, 0, ksh[0], vsh[0], h, kh + (size_t)(t0 + BT) * hb, vh + (size_t)(t0 + BT) * hb,
                           prefetch ? (size_t)next * hb : 0);
                continue;
            }
            for (int u = 0; u < nb; u++) kt[u] = k + (size_t)(t0 + u) * rowb, vt[u] = v + (size_t)(t0 + u) * rowb;
            for (int u = 0; ks && u < nb; u++)
                for (int g = 0; g < H; g++) ksh[g][u] = ks[(t0 + u) * H + g], vsh[g][u] = vs[(t0 + u) * H + g];
            for (int g = 0; g < H; g++) {
                const size_t s0 = (size_t)(t0 + BT + next * g / H) * rowb;
                head_block(w, t, rounded, kt, vt, nb, g * hb, ksh[g], vsh[g], g, k + s0, v + s0, prefetch ? (size_t)(next * (g + 1) / H - next * g / H) * rowb : 0);
            }
        }
    lc_aligned_free(w);
}

/* The DRAM section: 256 MiB each of K and V per dtype, on one thread and on `threads` (each
 * its range of tokens), three ways (dram_range) in turn, best of 4 each, each run after a copy
 * on as many threads; against the fastest of those copies. */
static int dram_table(cJSON *root, int threads) {
    const size_t pool = (size_t)256 << 20;
    bench_copy cb;
    uint8_t *k = finite_bytes(pool, 3), *v = finite_bytes(pool, 4);
    if (bench_copy_init(&cb, (size_t)1 << 30) || !k || !v) {
        fprintf(stderr, "decode_anatomy: no memory for the DRAM section\n");
        bench_copy_free(&cb), lc_aligned_free(k), lc_aligned_free(v);
        return 1;
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "dram");
    printf("from DRAM (256 MiB each of K and V), GB/s of K, V and scale bytes; %% of a copy (read + written) on as many threads:\n");
    printf("%-6s %-8s %7s %8s %16s %16s %16s\n", "dtype", "query", "threads", "copy", "decode's walk", "no prefetch", "head-major");
    const struct { lc_dtype t; int rounded; } cases[] = {{LC_F32, 0}, {LC_F16, 0}, {LC_BF16, 1}, {LC_INT8, 1}, {LC_FP8, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const lc_dtype t = cases[c].t;
        const int64_t n = (int64_t)(pool / ((size_t)H * D * lc_dtype_size(t)));
        float *ks = NULL, *vs = NULL;
        if (t >= LC_INT8) {
            ks = malloc(sizeof(float) * (size_t)(n * H)), vs = malloc(sizeof(float) * (size_t)(n * H));
            for (int64_t i = 0; i < n * H; i++) ks[i] = vs[i] = 0.01f;
        }
        const double bytes = (double)n * (2.0 * D * H * (double)lc_dtype_size(t) + (ks ? 8.0 * H : 0));
        for (int th = 1; th <= threads; th = th == threads ? th + 1 : threads) {
            fprintf(stderr, "  DRAM %s, %d thread(s) ...\n", lc_dtype_name(t), th);
            double copy = 0, best[3] = {1e30, 1e30, 1e30}, g[3];
            for (int rep = 0; rep < 4; rep++)
                for (int way = 0; way < 3; way++) {
                    const double cg = bench_copy_once(&cb, th);
                    if (cg > copy) copy = cg;
                    double s = bench_now();
#pragma omp parallel for num_threads(th)
                    for (int i = 0; i < th; i++) {
                        int64_t per = (n / th + BT - 1) / BT * BT, a = per * i, b = a + per < n ? a + per : n;
                        dram_range(t, cases[c].rounded, k, v, ks, vs, n, a, b, way == 2, way != 1);
                    }
                    s = bench_now() - s;
                    if (s < best[way]) best[way] = s;
                }
            for (int way = 0; way < 3; way++) g[way] = bytes / best[way] / 1e9;
            printf("%-6s %-8s %7d %8.2f %8.2f (%3.0f%%) %8.2f (%3.0f%%) %8.2f (%3.0f%%)\n", lc_dtype_name(t), cases[c].rounded ? "rounded" : "f32", th, copy,
                   g[0], 100 * g[0] / copy, g[1], 100 * g[1] / copy, g[2], 100 * g[2] / copy);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "dtype", lc_dtype_name(t));
            cJSON_AddStringToObject(o, "query", cases[c].rounded ? "rounded" : "f32");
            cJSON_AddNumberToObject(o, "threads", th);
            cJSON_AddNumberToObject(o, "memcpy_gbs", copy);
            cJSON_AddNumberToObject(o, "decode_walk_gbs", g[0]);
            cJSON_AddNumberToObject(o, "no_prefetch_gbs", g[1]);
            cJSON_AddNumberToObject(o, "head_major_gbs", g[2]);
            cJSON_AddItemToArray(arr, o);
        }
        free(ks), free(vs);
    }
    bench_copy_free(&cb), lc_aligned_free(k), lc_aligned_free(v);
    return 0;
}

int main(int argc, char **argv) {
    const char *json = "bench/results/decode_anatomy.json";
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: decode_anatomy [--threads N] [--json FILE]\n");
            return 2;
        }
    }
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "decode_anatomy: needs AVX-512 BW, VNNI and BF16 (the kernels it times)\n");
        return 2;
    }
    double hz = clock_hz();
    cJSON *root = cJSON_CreateObject(), *comp = cJSON_AddArrayToObject(root, "compute");
    cJSON_AddNumberToObject(root, "clock_ghz", hz / 1e9);
    printf("decode anatomy, one thread, d=%d, %d KV heads, %d query rows per head; clock %.2f GHz\n", D, H, R, hz / 1e9);
    printf("compute (cache-resident blocks):\n%-6s %-8s %12s %12s %16s\n", "dtype", "query", "ns/key-head", "cycles", "GB/s of slots");
    const struct { lc_dtype t; int rounded; } cases[] = {{LC_F32, 0},  {LC_F16, 0}, {LC_BF16, 1}, {LC_BF16, 0},
                                                            {LC_INT8, 1}, {LC_INT8, 0}, {LC_FP8, 1}, {LC_FP8, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  compute %s ...\n", lc_dtype_name(cases[i].t));
        double s = compute_seconds(cases[i].t, cases[i].rounded);
        double slot = 2.0 * D * (double)lc_dtype_size(cases[i].t) + (cases[i].t >= LC_INT8 ? 8 : 0);
        printf("%-6s %-8s %12.2f %12.1f %16.2f\n", lc_dtype_name(cases[i].t), cases[i].rounded ? "rounded" : "f32", s * 1e9, s * hz, slot / s / 1e9);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dtype", lc_dtype_name(cases[i].t));
        cJSON_AddStringToObject(o, "query", cases[i].rounded ? "rounded" : "f32");
        cJSON_AddNumberToObject(o, "seconds_per_key_head", s);
        cJSON_AddNumberToObject(o, "cycles_per_key_head", s * hz);
        cJSON_AddNumberToObject(o, "gbs", slot / s / 1e9);
        cJSON_AddItemToArray(comp, o);
    }
    if (dram_table(root, lc_threads_resolve(threads))) {
        cJSON_Delete(root);
        return 1;
    }
    return bench_write_json(root, json);
}
