/* bench/decode_walk: the CPU decode's read walk with synthetic arithmetic in place of the
 * kernels, to tell what the memory walk allows from what the kernels take.
 *
 * Per key and head: its K row and its V row (128 bytes: int8 / fp8 at d = 128; 256: f16 /
 * bf16), loaded as 64-byte vectors, then F fused multiply-adds in 8 chains that start from
 * the loaded vectors (arithmetic that depends on the bytes, as the kernels' does). The rows
 * lie as the cache lays them out (token-major, 8 KV heads) and are walked as lc_decode_attention
 * walks them: blocks of 32 tokens, head by head, head h prefetching its eighth of the next
 * block's K and V bytes in address order. Five orders of the loads and prefetches:
 *   together  each key's K row then its V row; both prefetch shares spread over the keys;
 *   phased    the block's 32 K rows (the scores), then its 32 V rows (the P.V); K's share
 *             prefetched over the K rows and V's over the V rows (the kernels since the
 *             ninth session of 2026-11-23);
 *   phased, both shares early: the same loads with both shares prefetched over the K rows
 *             (the kernels before);
 *   phased, shares mixed: the phased loads with half of each share prefetched over the K
 *             rows and half over the V rows (K and V prefetched side by side throughout);
 *   together, shares phased: the loads of `together` with the prefetches of `phased`.
 * The last two tell whether `together` gains by its loads or by its prefetches (a kernel
 * can only have `together`'s loads by pipelining one block's scores with the last one's P.V).
 * Each thread walks its own 256 MiB of K and of V; the orders alternate, best of 7 each,
 * against a copy on as many threads just before (read + written, bench_copy_gbs).
 *   decode_walk [--threads N] [--json FILE] */
#include <cJSON.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cache/decode_ops.h" /* lc_prefetch_bytes, LC_DECODE_BT: the decode's own */
#include "bench_util.h"

enum { HEADS = 8, BT = LC_DECODE_BT, NCHAIN = 8 };
enum order { TOGETHER, PHASED, PHASED_EARLY, PHASED_MIXED, TOGETHER_PHASED_SHARES, NORDER };
static const char *order_name[NORDER] = {"together", "phased", "phased, both shares early", "phased, shares mixed",
                                         "together, shares phased"};

#define AVX512 __attribute__((target("avx512f")))

/* One row of RB bytes: its vectors into NCHAIN chains of fmas / NCHAIN FMAs each (a factor
 * per chain, so that chains from the same vector are not merged by the compiler), summed
 * into acc. RB is a constant in each instance (a first version with the row size as a
 * variable read half as much: the loop's address arithmetic). */
#define ROW_WORK(RB, row, fmas, acc)                                                            \
    do {                                                                                       \
        __m512 x_[NCHAIN];                                                                     \
        for (int i_ = 0; i_ < NCHAIN; i_++) x_[i_] = _mm512_loadu_ps((row) + (i_ % ((RB) / 64)) * 64); \
        for (int f_ = 0; f_ < (fmas); f_ += NCHAIN)                                            \
            for (int i_ = 0; i_ < NCHAIN; i_++) x_[i_] = _mm512_fmadd_ps(x_[i_], c[i_], c[0]);  \
        for (int i_ = 0; i_ < NCHAIN; i_++) acc[i_] = _mm512_add_ps(acc[i_], x_[i_]);          \
    } while (0)

/* fmas: per key and head, half on the K row and half on the V row. */
#define DEFINE_WALK(RB)                                                                                     \
    AVX512 static float walk_##RB(const char *k, const char *v, size_t bytes, int fmas, enum order o) {           \
        const size_t rowb = (size_t)HEADS * (RB), blk = BT * rowb, share = blk / HEADS, per = share / BT;  \
        const int half = fmas / 2;                                                                          \
        __m512 c[NCHAIN]; /* a factor per chain: chains from the same vector stay distinct */              \
        for (int i = 0; i < NCHAIN; i++) c[i] = _mm512_set1_ps(0.999f - 0.001f * (float)i);                \
        __m512 acc[NCHAIN];                                                                                 \
        for (int i = 0; i < NCHAIN; i++) acc[i] = _mm512_setzero_ps();                                      \
        for (size_t b0 = 0; b0 + blk <= bytes; b0 += blk)                                                   \
            for (int h = 0; h < HEADS; h++) {                                                               \
                const size_t pf = b0 + blk + (size_t)h * share;                                             \
                const int more = pf + share <= bytes;                                                       \
                for (int u = 0; u < BT; u++) { /* the K rows (all rows, when together) */                   \
                    const size_t off = b0 + (size_t)u * rowb + (size_t)h * (RB);                            \
                    if (more) switch (o) {                                                                  \
                        case TOGETHER: case PHASED_EARLY:                                                   \
                            lc_prefetch_bytes(k + pf + u * per, per), lc_prefetch_bytes(v + pf + u * per, per); break; \
                        case PHASED: lc_prefetch_bytes(k + pf + u * per, per); break;                       \
                        case PHASED_MIXED: /* the first halves of both shares */                            \
                            lc_prefetch_bytes(k + pf + u * per / 2, per / 2), lc_prefetch_bytes(v + pf + u * per / 2, per / 2); break; \
                        default: /* K's share over the first half of the keys, V's over the second */       \
                            lc_prefetch_bytes((u < BT / 2 ? k : v) + pf + (u % (BT / 2)) * 2 * per, 2 * per); \
                        }                                                                                   \
                    ROW_WORK(RB, k + off, half, acc);                                                       \
                    if (o == TOGETHER || o == TOGETHER_PHASED_SHARES) ROW_WORK(RB, v + off, half, acc);     \
                }                                                                                           \
                for (int u = 0; (o == PHASED || o == PHASED_EARLY || o == PHASED_MIXED) && u < BT; u++) {   \
                    const size_t off = b0 + (size_t)u * rowb + (size_t)h * (RB);                            \
                    if (more && o == PHASED) lc_prefetch_bytes(v + pf + u * per, per);                      \
                    if (more && o == PHASED_MIXED)                                                          \
                        lc_prefetch_bytes(k + pf + share / 2 + u * per / 2, per / 2), lc_prefetch_bytes(v + pf + share / 2 + u * per / 2, per / 2); \
                    ROW_WORK(RB, v + off, half, acc);                                                       \
                }                                                                                           \
            }                                                                                               \
        for (int i = 1; i < NCHAIN; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);                            \
        return _mm512_reduce_add_ps(acc[0]);                                                                \
    }
DEFINE_WALK(128)
DEFINE_WALK(256)

int main(int argc, char **argv) {
    int threads = 0;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: decode_walk [--threads N] [--json FILE]\n");
            return 2;
        }
    }
    if (!__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "decode_walk: needs AVX-512 (the loads and FMAs it times)\n");
        return 1;
    }
    threads = lc_threads_resolve(threads);
    const size_t bytes = (size_t)256 << 20;
    char **k = calloc((size_t)threads, sizeof *k), **v = calloc((size_t)threads, sizeof *v);
    bench_copy cb;
    int bad = !k || !v || bench_copy_init(&cb, (size_t)1 << 30);
    for (int t = 0; !bad && t < threads; t++) {
        k[t] = lc_stream_alloc(bytes), v[t] = lc_stream_alloc(bytes);
        if (!k[t] || !v[t]) bad = 1;
        else memset(k[t], 0, bytes), memset(v[t], 0, bytes);
    }
    if (bad) {
        fprintf(stderr, "decode_walk: no memory for %d x 512 MiB of rows and the copy\n", threads);
        return 1;
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "cases");
    cJSON_AddNumberToObject(root, "threads", threads);
    printf("decode_walk: %d threads, 256 MiB each of K and V per thread; GB/s of K and V read, %% of a copy on as many threads\n", threads);
    printf("%9s %14s %-27s %8s %8s %8s\n", "row bytes", "FMAs/key+head", "order", "GB/s", "copy", "%copy");
    const int rows[] = {128, 256}, fmas[] = {0, 32, 64, 96, 128};
    for (int ri = 0; ri < 2; ri++)
        for (int fi = 0; fi < 5; fi++) {
            const double copy = bench_copy_gbs(&cb, threads);
            double best[NORDER];
            float sink = 0;
            fprintf(stderr, "  rows of %d B, %d FMAs, %d orders alternating ...\n", rows[ri], fmas[fi], NORDER);
            for (int o = 0; o < NORDER; o++) best[o] = 1e30;
            for (int rep = 0; rep < 7; rep++)
                for (int o = 0; o < NORDER; o++) {
                    double s = bench_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
                    {
                        int me = omp_get_thread_num();
                        sink += rows[ri] == 128 ? walk_128(k[me], v[me], bytes, fmas[fi], (enum order)o)
                                                : walk_256(k[me], v[me], bytes, fmas[fi], (enum order)o);
                    }
                    s = bench_now() - s;
                    if (s < best[o]) best[o] = s;
                }
            for (int o = 0; o < NORDER; o++) {
                const double gbs = 2.0 * (double)bytes * threads / best[o] / 1e9;
                printf("%9d %14d %-27s %8.2f %8.2f %7.0f%%%s\n", rows[ri], fmas[fi], order_name[o], gbs, copy, 100 * gbs / copy, sink == 1.5f ? " " : "");
                cJSON *c = cJSON_CreateObject();
                cJSON_AddNumberToObject(c, "row_bytes", rows[ri]);
                cJSON_AddNumberToObject(c, "fmas_per_key_head", fmas[fi]);
                cJSON_AddStringToObject(c, "order", order_name[o]);
                cJSON_AddNumberToObject(c, "gbs", gbs);
                cJSON_AddNumberToObject(c, "memcpy_gbs", copy);
                cJSON_AddItemToArray(arr, c);
            }
            fflush(stdout);
        }
    for (int t = 0; t < threads; t++) lc_aligned_free(k[t]), lc_aligned_free(v[t]);
    free(k), free(v), bench_copy_free(&cb);
    if (json) return bench_write_json(root, json);
    cJSON_Delete(root);
    return 0;
}
