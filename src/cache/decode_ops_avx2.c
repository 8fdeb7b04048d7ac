/* The decode block kernel with AVX2 + FMA + F16C: the four passes of
 * lc_decode_block_loops with these loops. fp8 e4m3 is widened through binary16:
 * sign << 8 | (exponent, mantissa) << 7 is the f16 with the same bits and an exponent
 * bias 8 too small, fixed by one multiply by 2^8 (exact, subnormals included). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "decode_ops.h"
#include "../core/vec_math_avx2.h"

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Four query rows at a time share each load of a key row. */
static void scores(const float *const *q, int R, const float *const *k, int nb, int D, float scale, float *sc, int BT) {
    for (int u = 0; u < nb; u++) {
        const float *kr = k[u];
        int r = 0;
        for (; r + 4 <= R; r += 4) {
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            int e = 0;
            for (; e + 8 <= D; e += 8) {
                __m256 kv = _mm256_loadu_ps(kr + e);
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[r] + e), kv, s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q[r + 1] + e), kv, s1);
                s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q[r + 2] + e), kv, s2);
                s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q[r + 3] + e), kv, s3);
            }
            float t0 = hsum(s0), t1 = hsum(s1), t2 = hsum(s2), t3 = hsum(s3);
            for (; e < D; e++) t0 += q[r][e] * kr[e], t1 += q[r + 1][e] * kr[e], t2 += q[r + 2][e] * kr[e], t3 += q[r + 3][e] * kr[e];
            sc[r * BT + u] = t0 * scale, sc[(r + 1) * BT + u] = t1 * scale;
            sc[(r + 2) * BT + u] = t2 * scale, sc[(r + 3) * BT + u] = t3 * scale;
        }
        for (; r < R; r++) {
            __m256 s0 = _mm256_setzero_ps();
            int e = 0;
            for (; e + 8 <= D; e += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[r] + e), _mm256_loadu_ps(kr + e), s0);
            float t = hsum(s0);
            for (; e < D; e++) t += q[r][e] * kr[e];
            sc[r * BT + u] = t * scale;
        }
    }
}

/* 32 output dims of up to 2 rows stay in registers over the block's values. */
static void pv(float *acc, int R, const float *p, const float *const *v, int nb, int D, int BT) {
    int e = 0;
    for (; e + 32 <= D; e += 32) {
        int r = 0;
        for (; r + 2 <= R; r += 2) {
            float *a0 = acc + r * D + e, *a1 = a0 + D;
            __m256 x0 = _mm256_loadu_ps(a0), x1 = _mm256_loadu_ps(a0 + 8), x2 = _mm256_loadu_ps(a0 + 16), x3 = _mm256_loadu_ps(a0 + 24);
            __m256 y0 = _mm256_loadu_ps(a1), y1 = _mm256_loadu_ps(a1 + 8), y2 = _mm256_loadu_ps(a1 + 16), y3 = _mm256_loadu_ps(a1 + 24);
            for (int u = 0; u < nb; u++) {
                const float *vr = v[u] + e;
                __m256 w0 = _mm256_set1_ps(p[r * BT + u]), w1 = _mm256_set1_ps(p[(r + 1) * BT + u]);
                __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8), v2 = _mm256_loadu_ps(vr + 16), v3 = _mm256_loadu_ps(vr + 24);
                x0 = _mm256_fmadd_ps(w0, v0, x0), x1 = _mm256_fmadd_ps(w0, v1, x1), x2 = _mm256_fmadd_ps(w0, v2, x2), x3 = _mm256_fmadd_ps(w0, v3, x3);
                y0 = _mm256_fmadd_ps(w1, v0, y0), y1 = _mm256_fmadd_ps(w1, v1, y1), y2 = _mm256_fmadd_ps(w1, v2, y2), y3 = _mm256_fmadd_ps(w1, v3, y3);
            }
            _mm256_storeu_ps(a0, x0), _mm256_storeu_ps(a0 + 8, x1), _mm256_storeu_ps(a0 + 16, x2), _mm256_storeu_ps(a0 + 24, x3);
            _mm256_storeu_ps(a1, y0), _mm256_storeu_ps(a1 + 8, y1), _mm256_storeu_ps(a1 + 16, y2), _mm256_storeu_ps(a1 + 24, y3);
        }
        for (; r < R; r++) {
            float *a0 = acc + r * D + e;
            __m256 x0 = _mm256_loadu_ps(a0), x1 = _mm256_loadu_ps(a0 + 8), x2 = _mm256_loadu_ps(a0 + 16), x3 = _mm256_loadu_ps(a0 + 24);
            for (int u = 0; u < nb; u++) {
                const float *vr = v[u] + e;
                __m256 w0 = _mm256_set1_ps(p[r * BT + u]);
                x0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(vr), x0), x1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(vr + 8), x1);
                x2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(vr + 16), x2), x3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(vr + 24), x3);
            }
            _mm256_storeu_ps(a0, x0), _mm256_storeu_ps(a0 + 8, x1), _mm256_storeu_ps(a0 + 16, x2), _mm256_storeu_ps(a0 + 24, x3);
        }
    }
    for (; e < D; e++) /* the tail dims */
        for (int r = 0; r < R; r++) {
            float s = acc[r * D + e];
            for (int u = 0; u < nb; u++) s += p[r * BT + u] * v[u][e];
            acc[r * D + e] = s;
        }
}

static void load(float *dst, const void *src, float scale, lc_dtype t, int n) {
    int i = 0;
    switch (t) {
    case LC_F16:
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)src + i))));
        break;
    case LC_BF16:
        for (; i + 8 <= n; i += 8) {
            __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)src + i)));
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
        break;
    case LC_INT8: {
        __m256 s = _mm256_set1_ps(scale);
        for (; i + 8 <= n; i += 8) {
            long long b;
            memcpy(&b, (const int8_t *)src + i, 8);
            __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(b)));
            _mm256_storeu_ps(dst + i, _mm256_mul_ps(f, s));
        }
        break;
    }
    case LC_FP8: {
        __m256 s = _mm256_set1_ps(scale * 256.0f);
        const __m128i sign = _mm_set1_epi16((short)0x80), body = _mm_set1_epi16(0x7f);
        for (; i + 8 <= n; i += 8) {
            long long b;
            memcpy(&b, (const uint8_t *)src + i, 8);
            __m128i x = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(b));
            __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(x, sign), 8), _mm_slli_epi16(_mm_and_si128(x, body), 7));
            _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtph_ps(h), s));
        }
        break;
    }
    default: break;
    }
    if (i < n) lc_kv_load_row(dst + i, (const char *)src + (size_t)i * lc_dtype_size(t), scale, t, n - i);
}

/* The portable online softmax with 8 exponentials per instruction (lc_exp256). */
static void softmax(float *sc, int R, int nb, int BT, float *m, float *l, float *acc, int D) {
    const int n8 = nb / 8 * 8;
    for (int r = 0; r < R; r++) {
        float *row = sc + (size_t)r * BT, *o = acc + (size_t)r * D;
        __m256 mx = _mm256_set1_ps(-INFINITY);
        for (int u = 0; u < n8; u += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(row + u));
        float t[8], bm = -INFINITY;
        _mm256_storeu_ps(t, mx);
        for (int i = 0; i < 8; i++) bm = t[i] > bm ? t[i] : bm;
        for (int u = n8; u < nb; u++) bm = row[u] > bm ? row[u] : bm;
        if (bm == -INFINITY) {
            for (int u = 0; u < nb; u++) row[u] = 0;
            continue;
        }
        if (bm > m[r]) { /* new maximum: rescale what was summed so far */
            float c = expf(m[r] - bm);
            l[r] *= c;
            if (c != 1.0f)
                for (int e = 0; e < D; e++) o[e] *= c;
            m[r] = bm;
        }
        __m256 sum = _mm256_setzero_ps(), mv = _mm256_set1_ps(m[r]);
        for (int u = 0; u < n8; u += 8) { /* exp(-inf) = 0 */
            __m256 w = lc_exp256(_mm256_sub_ps(_mm256_loadu_ps(row + u), mv));
            sum = _mm256_add_ps(sum, w);
            _mm256_storeu_ps(row + u, w);
        }
        _mm256_storeu_ps(t, sum);
        float s = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
        for (int u = n8; u < nb; u++) {
            float w = row[u] == -INFINITY ? 0 : expf(row[u] - m[r]);
            s += w;
            row[u] = w;
        }
        l[r] += s;
    }
}

static const lc_decode_loops loops = {load, scores, softmax, pv};

static void block(const lc_decode_block *b) { lc_decode_block_loops(b, &loops); }

static int rounds_query(lc_dtype t) {
    (void)t;
    return 0;
}

const lc_decode_ops lc_decode_ops_avx2 = {block, rounds_query};
