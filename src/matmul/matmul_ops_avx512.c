/* lc_matmul's loops with AVX-512. Two tables: lc_matmul_ops_avx512 widens the weights to f32
 * in registers (f16: vcvtph2ps; bf16: a 16-bit shift) and multiplies f32 x; on CPUs with
 * AVX512-BF16, lc_matmul_ops_avx512_bf16 adds the paths on x rounded to bf16, where
 * `vdpbf16ps` multiplies 32 bf16 pairs and adds them into 16 f32 sums, the weights read as
 * stored:
 *
 *   streaming (few rows): one weight row at a time, in address order (4 rows read side by side
 *   streamed from memory at half the speed: 11 against 23-31 GB/s on 2 threads), against up to
 *   4 rows of x, two sums each;
 *   the matrix product: a 2 x 12 micro-kernel, 32 rows of x (two packed blocks of 16, one
 *   vector each per column pair) against 12 weight rows (each pair broadcast from the row
 *   where it lies), 24 sums held in registers over the whole of k. */
#include <immintrin.h>
#include <string.h>

#include "matmul_ops.h"

#define INLINE static inline __attribute__((always_inline))
#define BF16 __attribute__((target("avx512bf16")))
#define MR 4 /* rows of x per streaming pass */
#define GR 12 /* weight rows of the micro-kernel */
/* Streaming asks for the weight lines 4 KiB ahead of those it reads: the hardware prefetcher
 * stops at page boundaries. Decoding the 1.1 B model with f32 activations (bench/model):
 * 75-83 % of the memcpy ceiling without, 80-89 % with; neutral on the bf16 path. */
#define PREFETCH_BYTES 4096

/* Asks for the weight lines PREFETCH_BYTES past the [p, p + bytes) being read. */
INLINE void prefetch_ahead(const void *p, int bytes) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + PREFETCH_BYTES + o, _MM_HINT_T0);
}

/* ---- weights widened to f32, x f32 --------------------------------------------------------- */

/* 16 weights from element e on as f32; lanes outside mask m are zero. */
INLINE __m512 ld_w(const void *w, lc_dtype t, int64_t e, __mmask16 m) {
    if (t == LC_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + e);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + e);
    if (t == LC_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* One weight row j against rows i .. i + R - 1 of x, in address order, 32 columns a step in
 * two sums per row of x. */
INLINE void row_f32(const lc_matmul *d, lc_dtype t, int64_t j, int64_t i, const int R) {
    const int es = t == LC_F32 ? 4 : 2;
    const uint8_t *wr = (const uint8_t *)d->w + (size_t)(j * d->ldw) * es;
    const float *xr[MR];
    for (int b = 0; b < R; b++) xr[b] = d->x + (i + b) * d->ldx;
    __m512 acc[2][MR];
    for (int b = 0; b < R; b++) acc[0][b] = _mm512_setzero_ps(), acc[1][b] = _mm512_setzero_ps();
    const int64_t k = d->k;
    int64_t e = 0;
    for (; e + 32 <= k; e += 32) {
        prefetch_ahead(wr + (size_t)e * es, 32 * es);
        const __m512 w0 = ld_w(wr, t, e, 0xffff), w1 = ld_w(wr, t, e + 16, 0xffff);
        for (int b = 0; b < R; b++) {
            acc[0][b] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xr[b] + e), acc[0][b]);
            acc[1][b] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xr[b] + e + 16), acc[1][b]);
        }
    }
    for (; e < k; e += 16) {
        const __mmask16 m = k - e >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - e)) - 1);
        const __m512 w0 = ld_w(wr, t, e, m);
        for (int b = 0; b < R; b++) acc[0][b] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, xr[b] + e), acc[0][b]);
    }
    for (int b = 0; b < R; b++) {
        float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][b], acc[1][b]));
        d->y[(i + b) * d->ldy + j] = d->bias ? s + d->bias[j] : s;
    }
}

INLINE void stream_f32_t(const lc_matmul *d, lc_dtype t, int64_t n0, int64_t n1) {
    for (int64_t j = n0; j < n1; j++)
        for (int64_t i = 0; i < d->m; i += MR) {
            switch (d->m - i < MR ? d->m - i : MR) {
            case 1: row_f32(d, t, j, i, 1); break;
            case 2: row_f32(d, t, j, i, 2); break;
            case 3: row_f32(d, t, j, i, 3); break;
            default: row_f32(d, t, j, i, 4); break;
            }
        }
}

static void stream_f32(const lc_matmul *d, int64_t n0, int64_t n1) {
    switch (d->w_dtype) {
    case LC_F16: stream_f32_t(d, LC_F16, n0, n1); break;
    case LC_BF16: stream_f32_t(d, LC_BF16, n0, n1); break;
    default: stream_f32_t(d, LC_F32, n0, n1); break;
    }
}

static void stream(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t n0, int64_t n1) {
    (void)xq, (void)ldq; /* this table never rounds x */
    stream_f32(d, n0, n1);
}

static void widen(float *dst, const void *src, lc_dtype t, int64_t n) {
    if (t == LC_F32) {
        memcpy(dst, src, sizeof(float) * (size_t)n);
        return;
    }
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, ld_w(src, t, i, m));
    }
}

/* 16 f32 to bf16, ties to even, NaN quiet (as lc_f32_to_bf16), in the low 16 bits of each lane. */
INLINE __m512i bf16_of(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_or_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x0040));
}

static void round_bf16(uint16_t *dst, const float *src, int64_t n, int64_t pad) {
    int64_t e = 0;
    for (; e < n; e += 16) {
        const __mmask16 m = n - e >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - e)) - 1);
        _mm256_mask_storeu_epi16(dst + e, m, _mm512_cvtepi32_epi16(bf16_of(_mm512_maskz_loadu_ps(m, src + e))));
    }
    for (e = n; e < pad; e++) dst[e] = 0;
}

/* Rows [16 b0, 16 b1) of x packed as pairs: 16 rows x 16 pairs at a time, each row's 32 values
 * rounded into one vector of pairs, then a 16 x 16 transpose of 32-bit lanes. */
static void pack_bf16(const lc_matmul *d, uint32_t *xp, int64_t b0, int64_t b1) {
    const int64_t pairs = (d->k + 1) / 2, k = d->k;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int64_t b = b0; b < b1; b++) {
        uint32_t *blk = xp + b * pairs * LC_MATMUL_MB;
        for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
            __m512i r[16], t[16];
            for (int i = 0; i < 16; i++) { /* r[i] lane l: row i's pair p0 + l */
                const int64_t row = b * LC_MATMUL_MB + i, left = k - 2 * p0;
                if (row >= d->m) {
                    r[i] = _mm512_setzero_si512();
                    continue;
                }
                const float *x = d->x + row * d->ldx + 2 * p0;
                const __mmask16 m0 = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                const __mmask16 m1 = left >= 32 ? (__mmask16)0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
                const __m512i lo = bf16_of(_mm512_maskz_loadu_ps(m0, x)), hi = bf16_of(_mm512_maskz_loadu_ps(m1, x + 16));
                r[i] = _mm512_or_si512(_mm512_permutex2var_epi32(lo, even, hi), _mm512_slli_epi32(_mm512_permutex2var_epi32(lo, odd, hi), 16));
            }
            /* transpose: afterwards r[e] lane i = row i's pair p0 + e */
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
            }
            for (int g = 0; g < 16; g += 4) { /* r[g + c], 128-bit lane L: rows g .. g + 3, pair 4 L + c */
                r[g + 0] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
                r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
                r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
                r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
            }
            for (int c = 0; c < 4; c++) {
                const __m512i v0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x88), v1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xdd);
                const __m512i w0 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x88), w1 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xdd);
                t[c] = _mm512_shuffle_i32x4(v0, w0, 0x88);
                t[8 + c] = _mm512_shuffle_i32x4(v0, w0, 0xdd);
                t[4 + c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
                t[12 + c] = _mm512_shuffle_i32x4(v1, w1, 0xdd);
            }
            const int np = pairs - p0 < 16 ? (int)(pairs - p0) : 16;
            for (int e = 0; e < np; e++) _mm512_storeu_si512(blk + (p0 + e) * LC_MATMUL_MB, t[e]);
        }
    }
}

const lc_matmul_ops lc_matmul_ops_avx512 = {stream, widen, round_bf16, lc_matmul_pack_bf16_portable, NULL};

/* ---- x rounded to bf16: vdpbf16ps ------------------------------------------------------------ */

INLINE BF16 __m512 dot(__m512 acc, __m512i a, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }

/* One weight row j against rounded rows i .. i + R - 1, in address order, 64 columns a step
 * in two sums per row of x. */
INLINE BF16 void row_bf16(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t j, int64_t i, const int R) {
    const uint16_t *wr = (const uint16_t *)d->w + j * d->ldw, *xr[MR];
    for (int b = 0; b < R; b++) xr[b] = xq + (i + b) * ldq;
    __m512 acc[2][MR];
    for (int b = 0; b < R; b++) acc[0][b] = _mm512_setzero_ps(), acc[1][b] = _mm512_setzero_ps();
    const int64_t k = d->k;
    int64_t e = 0;
    for (; e + 64 <= k; e += 64) {
        prefetch_ahead(wr + e, 128);
        const __m512i w0 = _mm512_loadu_si512(wr + e), w1 = _mm512_loadu_si512(wr + e + 32);
        for (int b = 0; b < R; b++) {
            acc[0][b] = dot(acc[0][b], _mm512_loadu_si512(xr[b] + e), w0);
            acc[1][b] = dot(acc[1][b], _mm512_loadu_si512(xr[b] + e + 32), w1);
        }
    }
    for (; e < k; e += 32) {
        const __mmask32 m = k - e >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (k - e)) - 1);
        const __m512i w0 = _mm512_maskz_loadu_epi16(m, wr + e);
        for (int b = 0; b < R; b++) acc[0][b] = dot(acc[0][b], _mm512_loadu_si512(xr[b] + e), w0);
    }
    for (int b = 0; b < R; b++) {
        float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][b], acc[1][b]));
        d->y[(i + b) * d->ldy + j] = d->bias ? s + d->bias[j] : s;
    }
}

static BF16 void stream_bf16x(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t n0, int64_t n1) {
    for (int64_t j = n0; j < n1; j++)
        for (int64_t i = 0; i < d->m; i += MR) {
            switch (d->m - i < MR ? d->m - i : MR) {
            case 1: row_bf16(d, xq, ldq, j, i, 1); break;
            case 2: row_bf16(d, xq, ldq, j, i, 2); break;
            case 3: row_bf16(d, xq, ldq, j, i, 3); break;
            default: row_bf16(d, xq, ldq, j, i, 4); break;
            }
        }
}

static void stream_x(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t n0, int64_t n1) {
    if (xq) stream_bf16x(d, xq, ldq, n0, n1);
    else stream_f32(d, n0, n1);
}

INLINE uint32_t ld32(const uint16_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The micro-kernel: blocks xa and xb (16 rows each) against weight rows w + a ldw, a < R;
 * the 2 x R vectors of sums into out[a][0..32). */
INLINE BF16 void micro(const uint32_t *xa, const uint32_t *xb, const uint16_t *w, int64_t ldw, int64_t k, float out[GR][32], const int R) {
    __m512 s0[GR], s1[GR];
    for (int a = 0; a < R; a++) s0[a] = _mm512_setzero_ps(), s1[a] = _mm512_setzero_ps();
    const int64_t full = k / 2;
    for (int64_t p = 0; p < full; p++) {
        const __m512i va = _mm512_loadu_si512(xa + p * 16), vb = _mm512_loadu_si512(xb + p * 16);
        for (int a = 0; a < R; a++) {
            const __m512i wv = _mm512_set1_epi32((int)ld32(w + a * ldw + 2 * p));
            s0[a] = dot(s0[a], va, wv);
            s1[a] = dot(s1[a], vb, wv);
        }
    }
    if (k & 1) { /* the last column alone (its pair's other half is zero in x) */
        const __m512i va = _mm512_loadu_si512(xa + full * 16), vb = _mm512_loadu_si512(xb + full * 16);
        for (int a = 0; a < R; a++) {
            const __m512i wv = _mm512_set1_epi32((int)w[a * ldw + k - 1]);
            s0[a] = dot(s0[a], va, wv);
            s1[a] = dot(s1[a], vb, wv);
        }
    }
    for (int a = 0; a < R; a++) _mm512_store_ps(out[a], s0[a]), _mm512_store_ps(out[a] + 16, s1[a]);
}

#define MICRO(R) static BF16 void micro_##R(const uint32_t *xa, const uint32_t *xb, const uint16_t *w, int64_t ldw, int64_t k, float out[GR][32]) { micro(xa, xb, w, ldw, k, out, R); }
MICRO(1) MICRO(2) MICRO(3) MICRO(4) MICRO(5) MICRO(6) MICRO(7) MICRO(8) MICRO(9) MICRO(10) MICRO(11) MICRO(12)
typedef void (*micro_fn)(const uint32_t *, const uint32_t *, const uint16_t *, int64_t, int64_t, float (*)[32]);
static const micro_fn micros[GR + 1] = {NULL, micro_1, micro_2, micro_3, micro_4, micro_5, micro_6, micro_7, micro_8, micro_9, micro_10, micro_11, micro_12};

static void gemm_bf16(const lc_matmul *d, const uint32_t *xp, int64_t n0, int64_t n1) {
    const int64_t pairs = (d->k + 1) / 2, blocks = (d->m + LC_MATMUL_MB - 1) / LC_MATMUL_MB;
    float out[GR][32] __attribute__((aligned(64)));
    for (int64_t j = n0; j < n1; j += GR) {
        const int nj = n1 - j < GR ? (int)(n1 - j) : GR;
        const uint16_t *wj = (const uint16_t *)d->w + j * d->ldw;
        for (int64_t b = 0; b < blocks; b += 2) { /* an odd last block is paired with itself */
            const uint32_t *xa = xp + b * pairs * LC_MATMUL_MB, *xb = b + 1 < blocks ? xa + pairs * LC_MATMUL_MB : xa;
            micros[nj](xa, xb, wj, d->ldw, d->k, out);
            const int64_t r1 = (b + 2) * LC_MATMUL_MB < d->m ? (b + 2) * LC_MATMUL_MB : d->m;
            for (int64_t i = b * LC_MATMUL_MB; i < r1; i++) {
                float *y = d->y + i * d->ldy + j;
                const int lane = (int)(i - b * LC_MATMUL_MB);
                for (int a = 0; a < nj; a++) y[a] = d->bias ? out[a][lane] + d->bias[j + a] : out[a][lane];
            }
        }
    }
}

const lc_matmul_ops lc_matmul_ops_avx512_bf16 = {stream_x, widen, round_bf16, pack_bf16, gemm_bf16};
