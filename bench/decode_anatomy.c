/* bench/decode_anatomy: the compute ceiling of one thread's decode. The AVX-512 block
 * kernel (decode_ops_avx512.c, an internal table read here on purpose) runs over 8
 * cache-resident blocks x 8 heads with no prefetch; it prints ns and cycles per key and
 * head (at the clock a dependent-add loop measures) and the GB/s of cache slots that rate
 * would read. Against the bytes a memcpy moves on the same threads (bench/decode), it says
 * how much of the gap to the copy is arithmetic and how much is waiting for memory
 * (docs/kv-cache.md, "Measured"). One new token, d = 128, 8 KV heads, 4 query rows per head.
 *   decode_anatomy [--json FILE] */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/attention/decode_ops.h"
#include "bench_util.h"

enum { D = 128, H = 8, R = 4, BT = LC_DECODE_BT, NBLK = 8 };

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

/* Seconds per key and head of the block kernel on cache-resident data. */
static double compute_seconds(lc_kv_dtype t, int rounded) {
    const size_t es = lc_kv_dtype_size(t), rowb = (size_t)H * D * es, bytes = rowb * BT * NBLK;
    uint8_t *k = malloc(bytes), *v = malloc(bytes);
    lc_rng_fill_normal((float *)k, bytes / 4, 1, 0, 0, 0.1f, 0); /* any bit patterns: finite values */
    lc_rng_fill_normal((float *)v, bytes / 4, 2, 0, 0, 0.1f, 0);
    if (t == LC_KV_F16 || t == LC_KV_BF16 || t == LC_KV_FP8) /* clear exponents that would read as inf / nan */
        for (size_t i = 0; i < bytes; i++) k[i] &= 0xbf, v[i] &= 0xbf;
    static float ks[BT * H * NBLK], vs[BT * H * NBLK], q[R][D], sc[R * BT], acc[R * D], cf[R], ksc[BT], vsc[BT];
    static int8_t qr[R][LC_DECODE_QR_BYTES(D)] __attribute__((aligned(64)));
    float qs[R], m[R], l[R];
    int32_t qsum[R];
    const float *qp[R];
    const void *qrp[R];
    for (int i = 0; i < BT * H * NBLK; i++) ks[i] = vs[i] = 0.01f;
    for (int r = 0; r < R; r++) {
        for (int e = 0; e < D; e++) q[r][e] = (float)((r * 37 + e * 11) % 17 - 8) / 8;
        memset(qr[r], 0, sizeof qr[r]);
        for (int e = 0; e < D; e++) {
            if (t == LC_KV_FP8) ((uint16_t *)qr[r])[e] = lc_f32_to_bf16(ldexpf(q[r][e], 64));
            else qr[r][e] = (int8_t)(q[r][e] * 16);
        }
        qp[r] = q[r], qrp[r] = qr[r], qs[r] = 1.0f / 16, qsum[r] = 0, m[r] = -INFINITY, l[r] = 0;
    }
    memset(acc, 0, sizeof acc);
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
            lc_decode_block blk = {.q = qp, .R = R, .G = R, .D = D, .nb = BT, .bt = BT, .scale = 0.088f, .t = t,
                                   .kt = kt[b], .vt = vt[b], .hoff = (size_t)h * D * es, .ks = ks + (b * H + h) * BT, .vs = vs + (b * H + h) * BT, .vis = 1 << 30,
                                   .m = m, .l = l, .acc = acc, .sc = sc, .cf = cf, .ksc = ksc, .vsc = vsc,
                                   .qr = rounded ? qrp : NULL, .qr_scale = qs, .qr_sum = qsum};
            lc_decode_ops_avx512.block(&blk);
        }
        s = bench_now() - s;
        if (s < best) best = s;
    }
    free(k), free(v);
    return best / ((double)iters * BT);
}

int main(int argc, char **argv) {
    const char *json = "bench/results/decode_anatomy.json";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: decode_anatomy [--json FILE]\n");
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
    const struct { lc_kv_dtype t; int rounded; } cases[] = {{LC_KV_F32, 0}, {LC_KV_F16, 0}, {LC_KV_BF16, 0}, {LC_KV_INT8, 1}, {LC_KV_INT8, 0}, {LC_KV_FP8, 1}, {LC_KV_FP8, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  compute %s ...\n", lc_kv_dtype_name(cases[i].t));
        double s = compute_seconds(cases[i].t, cases[i].rounded);
        double slot = 2.0 * D * (double)lc_kv_dtype_size(cases[i].t) + (cases[i].t >= LC_KV_INT8 ? 8 : 0);
        printf("%-6s %-8s %12.2f %12.1f %16.2f\n", lc_kv_dtype_name(cases[i].t), cases[i].rounded ? "rounded" : "f32", s * 1e9, s * hz, slot / s / 1e9);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dtype", lc_kv_dtype_name(cases[i].t));
        cJSON_AddStringToObject(o, "query", cases[i].rounded ? "rounded" : "f32");
        cJSON_AddNumberToObject(o, "seconds_per_key_head", s);
        cJSON_AddNumberToObject(o, "cycles_per_key_head", s * hz);
        cJSON_AddNumberToObject(o, "gbs", slot / s / 1e9);
        cJSON_AddItemToArray(comp, o);
    }
    return bench_write_json(root, json);
}
