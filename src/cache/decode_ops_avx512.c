/* Decode inner loops with AVX-512 (F/BW/VL + F16C), fused per block of keys of one KV
 * head (docs/kv-cache.md, "AVX-512 path"):
 *   scores  16 accumulators = RT query rows x KT keys (RT * KT = 16), each a 16-lane
 *           partial dot product; one transposing add tree turns the 16 of them into one
 *           vector of 16 scores (no horizontal sum per key);
 *   softmax on those vectors as they are (tile order), all RT rows in the same
 *           instructions: max, one exp per lane, the running sum; the accumulator
 *           rescale e^(m_old - m_new) rides on the P.V pass;
 *   P.V     RT rows x (16 / RT) chunks of 16 output dims in registers over the block.
 * K and V are widened from the cache straight into registers (f16: vcvtph2ps; bf16: shift;
 * int8: vpmovsxbd + vcvtdq2ps; fp8 e4m3 through binary16 as in decode_ops_avx2.c, the 2^8
 * folded into the scale). int8 / fp8 per-token scales multiply the score after the dot
 * and the probability before P.V, never the elements.
 * With the query rounded once per call (lc_decode_block.rounded), scores and P.V use the CPU's
 * dot-product instructions instead of FMAs (docs/kv-cache.md, "Rounded query"): int8 caches
 * score with `vpdpbusd` (64 byte products per instruction; the key bytes fed as unsigned
 * k + 128 and 128 * sum(q) subtracted once per score) and sum P.V with `vpdpwssd` (the
 * probabilities in int16, two keys per instruction); fp8 caches do both with `vdpbf16ps`
 * (e4m3 widens to bf16 in 2 integer ops, its exponent 120 short of bf16's bias, the query
 * and the probabilities carrying 2^64 of it), and bf16 caches too, as stored. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "decode_ops.h"
#include "../core/vec_math_avx512.h"

#define INLINE static inline __attribute__((always_inline))

/* The dot-product instructions as inline assembly: GCC 12's builtins copy every accumulator
 * to a fresh register around each instruction (twice the instructions in the loops below). */
INLINE __m512i dot_u8s8(__m512i acc, __m512i u8, __m512i s8) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
    return acc;
}
INLINE __m512i dot_s16(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}
INLINE __m512 dot_bf16(__m512 acc, __m512i a, __m512i b) {
    __asm__("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

INLINE __mmask16 cmask(int left) { return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1u); }

/* 16 stored values from element e of a row, as f32 (fp8: 2^-8 times the value). */
INLINE __m512 ld(const uint8_t *row, int e, __mmask16 m, lc_dtype t) {
    switch (t) {
    case LC_F32: return _mm512_maskz_loadu_ps(m, (const float *)row + e);
    case LC_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + e));
    case LC_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + e)), 16));
    case LC_INT8: return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const int8_t *)row + e)));
    default: { /* fp8: sign << 8 | (exponent, mantissa) << 7 is binary16 with a bias 8 too small:
                * the sign-extended byte shifted left 7 has it, but for bit 14 (a copy of the sign) */
        __m256i x = _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, row + e)), 7);
        return _mm512_cvtph_ps(_mm256_and_si256(x, _mm256_set1_epi16((short)0xbfff)));
    }
    }
}

INLINE __m512 add_as(__m512 x, __m512 y, int integer) {
    return integer ? _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(x), _mm512_castps_si512(y))) : _mm512_add_ps(x, y);
}

/* v[n] -> lane n holds the sum of v[n]'s 16 lanes (f32, or int32 when integer). */
INLINE __m512 reduce16_as(const __m512 *v, int integer) {
    __m512 w[8], z[4];
    for (int p = 0; p < 8; p++) /* lane quad k: (a0+a2, b0+b2, a1+a3, b1+b3) */
        w[p] = add_as(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]), _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]), integer);
    for (int p = 0; p < 4; p++) { /* lane quad k: the quad's sums of v[4p .. 4p+3] */
        __m512d x = _mm512_castps_pd(w[2 * p]), y = _mm512_castps_pd(w[2 * p + 1]);
        z[p] = add_as(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)), integer);
    }
    __m512 s01 = add_as(_mm512_shuffle_f32x4(z[0], z[1], 0x88), _mm512_shuffle_f32x4(z[0], z[1], 0xdd), integer);
    __m512 s23 = add_as(_mm512_shuffle_f32x4(z[2], z[3], 0x88), _mm512_shuffle_f32x4(z[2], z[3], 0xdd), integer);
    return add_as(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd), integer);
}
INLINE __m512 reduce16(const __m512 *v) { return reduce16_as(v, 0); }
INLINE __m512 reduce16_int(const __m512i *v) { return reduce16_as((const __m512 *)v, 1); }

/* A row group's scores and probabilities in tile order: the tile of keys u0 .. u0 + KT - 1
 * (KT = 16 / RT) is one vector at sc + r0 * BT + u0 * RT whose lane i * KT + j is row r0 + i,
 * key u0 + j, as the add tree leaves it; key u of row i is element tile_index(RT, i, u). */
INLINE float *tiles(const lc_decode_block *b, int r0) { return b->scores + (size_t)r0 * b->score_stride; }
INLINE int tile_index(const int RT, int i, int u) { return u / (16 / RT) * 16 + i * (16 / RT) + u % (16 / RT); }
INLINE void store_scores(const lc_decode_block *b, int r0, const int RT, int u0, __m512 s) { _mm512_storeu_ps(tiles(b, r0) + u0 * RT, s); }

/* Steps [i, j) of n of the next block's share at p (b->prefetch_bytes bytes), prefetched:
 * K's share is spread over the score loop's steps and V's over the P.V loop's, so the reads
 * follow the work (with both shares issued during the scores, f16 / bf16 / int8 read 9-26%
 * less per second on two threads). */
INLINE void prefetch_steps(const lc_decode_block *b, const uint8_t *p, int i, int j, int n) {
    const size_t bytes = b->prefetch_bytes;
    if (bytes) lc_prefetch_bytes(p + bytes * (size_t)i / (size_t)n, bytes * (size_t)j / (size_t)n - bytes * (size_t)i / (size_t)n);
}

/* Block keys u0 .. u0 + KT - 1 of the rows' first key pointer kr[j] (clamped to the block). */
INLINE void key_rows(const lc_decode_block *b, int r0, int u0, int KT, const uint8_t **kr) {
    for (int j = 0; j < KT; j++) kr[j] = b->key_tokens[u0 + j < b->keys ? u0 + j : b->keys - 1] + b->head_offset;
    if (r0 == 0) prefetch_steps(b, b->prefetch_k, u0, u0 + KT < b->keys ? u0 + KT : b->keys, b->keys);
}

/* q[r] . k[u] for rows r0 .. r0+RT-1, all keys of the block, into the group's score tiles. */
INLINE void scores_rows(const lc_decode_block *b, int r0, const int RT, lc_dtype t) {
    const int KT = 16 / RT, D = b->head_dim;
    const float *q[4];
    for (int i = 0; i < RT; i++) q[i] = b->query[r0 + i];
    for (int u0 = 0; u0 < b->keys; u0 += KT) {
        const uint8_t *kr[16];
        key_rows(b, r0, u0, KT, kr);
        __m512 a[16];
#pragma GCC unroll 16
        for (int n = 0; n < 16; n++) a[n] = _mm512_setzero_ps();
        for (int e = 0; e < D; e += 16) {
            __mmask16 m = cmask(D - e);
            __m512 qv[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) qv[i] = _mm512_maskz_loadu_ps(m, q[i] + e);
#pragma GCC unroll 16
            for (int j = 0; j < KT; j++) {
                __m512 kv = ld(kr[j], e, m, t);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) a[i * KT + j] = _mm512_fmadd_ps(qv[i], kv, a[i * KT + j]);
            }
        }
        store_scores(b, r0, RT, u0, reduce16(a));
    }
}

/* int8 keys, int8 query: lane i * KT + j of the 16 accumulators' sums is
 * sum_e (k_je + 128) q_ie = q_i . k_j + 128 sum_e q_ie. */
INLINE void scores_rows_int8q(const lc_decode_block *b, int r0, const int RT) {
    const int KT = 16 / RT, D = b->head_dim;
    const int8_t *q[4];
    float ls[16];
    int32_t lc[16];
    for (int i = 0; i < RT; i++) q[i] = (const int8_t *)b->rounded[r0 + i];
    for (int l = 0; l < 16; l++) ls[l] = b->rounded_scale[r0 + l / KT], lc[l] = 128 * b->rounded_sum[r0 + l / KT];
    const __m512 lane_scale = _mm512_loadu_ps(ls);
    const __m512i lane_corr = _mm512_loadu_si512(lc), flip = _mm512_set1_epi8((char)0x80);
    for (int u0 = 0; u0 < b->keys; u0 += KT) {
        const uint8_t *kr[16];
        key_rows(b, r0, u0, KT, kr);
        __m512i a[16];
#pragma GCC unroll 16
        for (int n = 0; n < 16; n++) a[n] = _mm512_setzero_si512();
        for (int e = 0; e < D; e += 64) {
            __mmask64 m = D - e >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (D - e)) - 1);
            __m512i qv[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) qv[i] = _mm512_load_si512(q[i] + e); /* zero past D */
#pragma GCC unroll 16
            for (int j = 0; j < KT; j++) {
                __m512i kv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, kr[j] + e), flip);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) a[i * KT + j] = dot_u8s8(a[i * KT + j], kv, qv[i]);
            }
        }
        __m512i sum = _mm512_castps_si512(reduce16_int(a));
        store_scores(b, r0, RT, u0, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sum, lane_corr)), lane_scale));
    }
}

/* 32 e4m3 bytes, sign-extended to 16 bits, as bf16: the byte s eeee mmm becomes s 0000eeee
 * mmm0000 (shift 4, keep sign | 7 bits), 2^-120 times its value; normal e4m3 values stay
 * normal, its subnormals (below 2^-6 of the token's scale, a bf16 subnormal) read as zero. */
INLINE __m512i e4m3_as_bf16(__m512i sx) { return _mm512_and_si512(_mm512_slli_epi16(sx, 4), _mm512_set1_epi16((short)0x87f0)); }

/* 32 keys' elements e .. e + 31 as bf16 pairs: fp8 widened (e4m3_as_bf16), bf16 as stored. */
INLINE __m512i ld_bf16(const uint8_t *row, int e, __mmask32 m, int fp8) {
    return fp8 ? e4m3_as_bf16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, row + e))) : _mm512_maskz_loadu_epi16(m, (const uint16_t *)row + e);
}

/* bf16 query against fp8 keys (e4m3_as_bf16; the query times 2^64) or bf16 keys. */
INLINE void scores_rows_bf16q(const lc_decode_block *b, int r0, const int RT, const int fp8) {
    const int KT = 16 / RT, D = b->head_dim;
    const uint16_t *q[4];
    for (int i = 0; i < RT; i++) q[i] = (const uint16_t *)b->rounded[r0 + i];
    for (int u0 = 0; u0 < b->keys; u0 += KT) {
        const uint8_t *kr[16];
        key_rows(b, r0, u0, KT, kr);
        __m512 a[16];
#pragma GCC unroll 16
        for (int n = 0; n < 16; n++) a[n] = _mm512_setzero_ps();
        for (int e = 0; e < D; e += 32) {
            __mmask32 m = D - e >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << (D - e)) - 1);
            __m512i qv[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) qv[i] = _mm512_load_si512(q[i] + e);
#pragma GCC unroll 16
            for (int j = 0; j < KT; j++) {
                __m512i kv = ld_bf16(kr[j], e, m, fp8);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) a[i * KT + j] = dot_bf16(a[i * KT + j], qv[i], kv);
            }
        }
        store_scores(b, r0, RT, u0, reduce16(a));
    }
}

/* acc[r] = rescale[r] acc[r] + sum_u p[r][u] v[u] for rows r0 .. r0+RT-1. */
INLINE void pv_rows(const lc_decode_block *b, int r0, const int RT, lc_dtype t) {
    const int NC = 16 / RT, D = b->head_dim;
    for (int e0 = 0; e0 < D; e0 += 16 * NC) {
        __m512 a[16];
        __mmask16 m[16];
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++) m[c] = cmask(D - e0 - 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < RT; i++) {
            __m512 f = _mm512_set1_ps(b->rescale[r0 + i]);
            float *o = b->acc + (size_t)(r0 + i) * D + e0;
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++) a[i * NC + c] = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(m[c], o + 16 * c));
        }
        const float *p = tiles(b, r0);
        const int passes = (D + 16 * NC - 1) / (16 * NC), pass = e0 / (16 * NC);
        for (int u = 0; u < b->keys; u++) {
            if (r0 == 0) prefetch_steps(b, b->prefetch_v, pass * b->keys + u, pass * b->keys + u + 1, passes * b->keys);
            const uint8_t *vr = b->value_tokens[u] + b->head_offset;
            __m512 w[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) w[i] = _mm512_set1_ps(p[tile_index(RT, i, u)]);
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++) {
                __m512 vv = ld(vr, e0 + 16 * c, m[c], t);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) a[i * NC + c] = _mm512_fmadd_ps(w[i], vv, a[i * NC + c]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < RT; i++) {
            float *o = b->acc + (size_t)(r0 + i) * D + e0;
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(o + 16 * c, m[c], a[i * NC + c]);
        }
    }
}

/* The value kinds of the P.V: f32 probabilities (pv_rows), or 16-bit ones (pv_rows_pairs). */
enum { PV_F32, PV_INT8, PV_FP8, PV_BF16 };

INLINE __m512i lane_ids(void) { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
/* Each lane's key in its tile, j = l % KT. */
INLINE __m512i tile_keys(const int RT) { return _mm512_and_si512(lane_ids(), _mm512_set1_epi32(16 / RT - 1)); }

/* v[l] for lanes l in tile order: row i's value in every lane of row i (v: RT floats). */
INLINE __m512 per_row(const float *v, const int RT) {
    const __m512i row = _mm512_srli_epi32(lane_ids(), RT == 4 ? 2 : RT == 2 ? 3 : 4);
    return _mm512_permutexvar_ps(row, _mm512_maskz_loadu_ps(cmask(RT), v));
}
/* The tile's keys' values v[0 .. KT) in each row's lanes. */
INLINE __m512 per_key(const float *v, const int RT) {
    return _mm512_permutexvar_ps(tile_keys(RT), _mm512_maskz_loadu_ps(cmask(16 / RT), v));
}
/* The max or sum of each row's KT lanes, in all of them. */
INLINE __m512 row_reduce(__m512 x, const int RT, int sum) {
    for (int w = 1; w < 16 / RT; w *= 2) {
        __m512 y = _mm512_permutexvar_ps(_mm512_xor_si512(lane_ids(), _mm512_set1_epi32(w)), x);
        x = sum ? _mm512_add_ps(x, y) : _mm512_max_ps(x, y);
    }
    return x;
}
/* Lane i * KT of x to v[i], i < RT. */
INLINE void store_rows(float *v, __m512 x, const int RT) {
    _mm_mask_storeu_ps(v, (__mmask8)cmask(RT), _mm512_castps512_ps128(_mm512_maskz_compress_ps(RT == 4 ? 0x1111 : RT == 2 ? 0x0101 : 0x0001, x)));
}

/* The online softmax of a row group, on its score tiles, all rows at once: scores times the
 * key scales (or the softmax scale), causal mask, the running max row_max, the rescale of the
 * rows' accumulators and the running sum row_sum; then the probabilities (times the value scales
 * when quantised) in the tiles' place, as f32 or, for pv_rows_pairs, as 16-bit values
 * (tile t's 16 of them at element 16 t of the tiles read as uint16_t; each 32-byte store
 * lands on tiles already read); what one unit of them is worth is unit_worth's:
 *   int8 values: round(p * 32767 / max p), worth max p / 32767, stored in p_unit[r] (0: the
 *                row has nothing);
 *   fp8 values:  bf16 of 2^64 p (round to nearest even), worth 2^56 (2^64 here, 2^-120 in
 *                the widened values);
 *   bf16 values: bf16 of p, worth 1. */
INLINE void softmax_group(const lc_decode_block *b, int r0, const int RT, int quant, int kind) {
    const int KT = 16 / RT, nt = (b->keys + KT - 1) / KT;
    float *s = tiles(b, r0);
    float lim[4]; /* row i sees keys u < lim[i] */
    for (int i = 0; i < RT; i++) {
        int64_t v = b->visible + (r0 + i) / b->group;
        lim[i] = (float)(v < 0 ? 0 : v > b->keys ? b->keys : v);
    }
    const __m512 see = per_row(lim, RT), mo = per_row(b->row_max + r0, RT), ninf = _mm512_set1_ps(-INFINITY);
    const __m512 key0 = _mm512_cvtepi32_ps(tile_keys(RT));
    __m512 mx = ninf;
    for (int t = 0; t < nt; t++) {
        __m512 k = quant ? per_key(b->key_mult + t * KT, RT) : _mm512_set1_ps(b->scale);
        __mmask16 seen = _mm512_cmp_ps_mask(_mm512_add_ps(key0, _mm512_set1_ps((float)(t * KT))), see, _CMP_LT_OQ);
        __m512 x = _mm512_mask_mul_ps(ninf, seen, _mm512_loadu_ps(s + 16 * t), k);
        _mm512_storeu_ps(s + 16 * t, x);
        mx = _mm512_max_ps(mx, x);
    }
    const __m512 mn = _mm512_max_ps(row_reduce(mx, RT, 0), mo);
    const __mmask16 live = _mm512_cmp_ps_mask(mn, ninf, _CMP_NEQ_UQ), same = _mm512_cmp_ps_mask(mn, mo, _CMP_EQ_OQ);
    const __m512 cf = _mm512_mask_blend_ps(same, lc_exp512(_mm512_sub_ps(mo, mn)), _mm512_set1_ps(1.0f)); /* 1 if nothing seen */
    __m512 sum = _mm512_setzero_ps(), pmax = _mm512_setzero_ps(); /* pmax: int8 values only */
    for (int t = 0; t < nt; t++) {
        __m512 p = _mm512_maskz_mov_ps(live, lc_exp512(_mm512_sub_ps(_mm512_loadu_ps(s + 16 * t), mn)));
        sum = _mm512_add_ps(sum, p);
        if (quant) p = _mm512_mul_ps(p, per_key(b->value_mult + t * KT, RT));
        if (kind == PV_FP8 || kind == PV_BF16) { /* bf16, rounded to nearest even as lc_f32_to_bf16 */
            __m512i x = _mm512_castps_si512(_mm512_mul_ps(p, _mm512_set1_ps(kind == PV_FP8 ? 0x1p64f : 1.0f)));
            x = _mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1))));
            _mm256_storeu_si256((__m256i *)(s + 8 * t), _mm512_cvtepi32_epi16(_mm512_srli_epi32(x, 16)));
        } else _mm512_storeu_ps(s + 16 * t, p);
        if (kind == PV_INT8) pmax = _mm512_max_ps(pmax, p);
    }
    store_rows(b->row_max + r0, mn, RT);
    store_rows(b->rescale + r0, cf, RT);
    store_rows(b->row_sum + r0, _mm512_fmadd_ps(per_row(b->row_sum + r0, RT), cf, row_reduce(sum, RT, 1)), RT);
    if (kind == PV_INT8) {
        const __m512 M = row_reduce(pmax, RT, 0), q = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(M, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(32767), M);
        for (int t = 0; t < nt; t++) _mm256_storeu_si256((__m256i *)(s + 8 * t), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(s + 16 * t), q))));
        store_rows(b->p_unit + r0, _mm512_mul_ps(M, _mm512_set1_ps(1.0f / 32767)), RT);
    }
}

/* What one unit of row r's 16-bit probabilities is worth (softmax_group). */
INLINE float unit_worth(const lc_decode_block *b, int r, const int kind) { return kind == PV_INT8 ? b->p_unit[r] : kind == PV_FP8 ? 0x1p56f : 1.0f; }

/* P.V two keys at a time with the 16-bit probabilities of softmax_group:
 * acc[r] = rescale[r] acc[r] + p_unit[r] sum_u pq[r][u] v[u]. Lane e of one instruction gets
 * pq[u] v[u][e] + pq[u+1] v[u+1][e]: int8 values sign-extended to int16, vpdpwssd (exact in
 * int32); fp8 values widened by e4m3_as_bf16, and bf16 values, vdpbf16ps (f32). Per 32
 * elements of a key pair, vpunpck{l,h}wd leave lane 4L + m of lo / hi holding element
 * 8L + m / 8L + 4 + m; the accumulators keep that order until the end of the block. */
INLINE void pv_rows_pairs(const lc_decode_block *b, int r0, const int RT, const int kind) {
    const int NG = 8 / RT, D = b->head_dim; /* groups of 32 elements per pass: 16 accumulators */
    const uint16_t *pq = (const uint16_t *)tiles(b, r0);
    const __m512i lo_idx = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi_idx = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int e0 = 0; e0 < D; e0 += 32 * NG) {
        __m512i a[16];
        __mmask32 m[8];
#pragma GCC unroll 8
        for (int g = 0; g < NG; g++) {
            int left = D - e0 - 32 * g;
            m[g] = left >= 32 ? ~(__mmask32)0 : left <= 0 ? 0 : (((__mmask32)1 << left) - 1);
        }
#pragma GCC unroll 16
        for (int n = 0; n < 16; n++) a[n] = _mm512_setzero_si512();
        const int passes = (D + 32 * NG - 1) / (32 * NG), pass = e0 / (32 * NG);
        for (int u = 0; u < b->keys; u += 2) {
            if (r0 == 0) prefetch_steps(b, b->prefetch_v, pass * b->keys + u, pass * b->keys + (u + 2 < b->keys ? u + 2 : b->keys), passes * b->keys);
            const uint8_t *v0 = b->value_tokens[u] + b->head_offset, *v1 = u + 1 < b->keys ? b->value_tokens[u + 1] + b->head_offset : v0; /* p = 0 past nb */
            __m512i w[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) {
                int32_t pair; /* keys u and u + 1 of row i, side by side in a tile */
                memcpy(&pair, pq + tile_index(RT, i, u), sizeof pair);
                w[i] = _mm512_set1_epi32(pair);
            }
#pragma GCC unroll 8
            for (int g = 0; g < NG; g++) {
                __m512i x0, x1;
                if (kind == PV_INT8) {
                    x0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m[g], v0 + e0 + 32 * g));
                    x1 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m[g], v1 + e0 + 32 * g));
                } else {
                    x0 = ld_bf16(v0, e0 + 32 * g, m[g], kind == PV_FP8), x1 = ld_bf16(v1, e0 + 32 * g, m[g], kind == PV_FP8);
                }
                __m512i lo = _mm512_unpacklo_epi16(x0, x1), hi = _mm512_unpackhi_epi16(x0, x1);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) {
                    __m512i *c = &a[(i * NG + g) * 2];
                    if (kind != PV_INT8) {
                        c[0] = _mm512_castps_si512(dot_bf16(_mm512_castsi512_ps(c[0]), lo, w[i]));
                        c[1] = _mm512_castps_si512(dot_bf16(_mm512_castsi512_ps(c[1]), hi, w[i]));
                    } else c[0] = dot_s16(c[0], lo, w[i]), c[1] = dot_s16(c[1], hi, w[i]);
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < RT; i++) {
            const __m512 f = _mm512_set1_ps(b->rescale[r0 + i]), st = _mm512_set1_ps(unit_worth(b, r0 + i, kind));
            float *o = b->acc + (size_t)(r0 + i) * D + e0;
#pragma GCC unroll 8
            for (int g = 0; g < NG; g++)
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) { /* elements 16h .. 16h + 15 of group g */
                    __m512i x = _mm512_permutex2var_epi32(a[(i * NG + g) * 2], h ? hi_idx : lo_idx, a[(i * NG + g) * 2 + 1]);
                    __m512 y = kind != PV_INT8 ? _mm512_castsi512_ps(x) : _mm512_cvtepi32_ps(x);
                    __mmask16 mk = (__mmask16)(m[g] >> (16 * h));
                    float *oo = o + 32 * g + 16 * h;
                    _mm512_mask_storeu_ps(oo, mk, _mm512_fmadd_ps(st, y, _mm512_mul_ps(f, _mm512_maskz_loadu_ps(mk, oo))));
                }
        }
    }
}

/* Per-key scales of a quantised block (K's times kf and the softmax scale, V's times vf),
 * padded to whole vectors (the pads are masked off). */
INLINE void key_value_scales(const lc_decode_block *b, float kf, float vf) {
    for (int u = 0; u < b->keys; u += 16) {
        __mmask16 m = cmask(b->keys - u);
        _mm512_storeu_ps(b->key_mult + u, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, b->key_scales + u), _mm512_set1_ps(kf * b->scale)));
        _mm512_storeu_ps(b->value_mult + u, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, b->value_scales + u), _mm512_set1_ps(vf)));
    }
}

/* Rows in groups of 4, then 2, then 1: f(b, r0, RT) */
#define FOR_ROW_GROUPS(b, f, ...)                                        \
    do {                                                                 \
        int r_ = 0;                                                      \
        for (; (b)->rows - r_ >= 4; r_ += 4) f(b, r_, 4, ##__VA_ARGS__); \
        if ((b)->rows - r_ >= 2) f(b, r_, 2, ##__VA_ARGS__), r_ += 2;    \
        if ((b)->rows - r_ >= 1) f(b, r_, 1, ##__VA_ARGS__);             \
    } while (0)

INLINE void block_t(const lc_decode_block *b, lc_dtype t) {
    const int quant = t == LC_INT8 || t == LC_FP8;
    if (quant) key_value_scales(b, t == LC_FP8 ? 256.0f : 1.0f, t == LC_FP8 ? 256.0f : 1.0f);
    FOR_ROW_GROUPS(b, scores_rows, t);
    FOR_ROW_GROUPS(b, softmax_group, quant, PV_F32);
    FOR_ROW_GROUPS(b, pv_rows, t);
}

/* The same with the query rounded (b->rounded): int8 keys dotted in integers (the row's query
 * scale applied in scores_rows_int8q), fp8 keys in bf16 (2^-120 key bias, 2^64 query bias),
 * bf16 keys as stored. */
INLINE void block_int8q(const lc_decode_block *b) {
    key_value_scales(b, 1.0f, 1.0f);
    FOR_ROW_GROUPS(b, scores_rows_int8q);
    FOR_ROW_GROUPS(b, softmax_group, 1, PV_INT8);
    FOR_ROW_GROUPS(b, pv_rows_pairs, PV_INT8);
}

INLINE void block_fp8q(const lc_decode_block *b) {
    key_value_scales(b, 0x1p56f, 1.0f);
    FOR_ROW_GROUPS(b, scores_rows_bf16q, 1);
    FOR_ROW_GROUPS(b, softmax_group, 1, PV_FP8);
    FOR_ROW_GROUPS(b, pv_rows_pairs, PV_FP8);
}

INLINE void block_bf16q(const lc_decode_block *b) {
    FOR_ROW_GROUPS(b, scores_rows_bf16q, 0);
    FOR_ROW_GROUPS(b, softmax_group, 0, PV_BF16);
    FOR_ROW_GROUPS(b, pv_rows_pairs, PV_BF16);
}

INLINE void block_any(const lc_decode_block *b) {
    if (b->rounded && b->dtype == LC_INT8) return block_int8q(b);
    if (b->rounded && b->dtype == LC_FP8) return block_fp8q(b);
    if (b->rounded && b->dtype == LC_BF16) return block_bf16q(b);
    switch (b->dtype) {
    case LC_F32: block_t(b, LC_F32); break;
    case LC_F16: block_t(b, LC_F16); break;
    case LC_BF16: block_t(b, LC_BF16); break;
    case LC_INT8: block_t(b, LC_INT8); break;
    case LC_FP8: block_t(b, LC_FP8); break;
    case LC_INT4: break; /* not a cache dtype: refused by lc_kv_config_check */
    }
}

/* The kernels compiled for any shape, and again for full blocks of the commonest head dims
 * with the shape as constants, so that the masks of partial vectors and blocks and the
 * address arithmetic they spill to the stack fold away (one thread, cache-resident blocks
 * of d = 128: f16 68 -> 55 cycles per key and head, int8 with the rounded query 35 -> 30). */
INLINE void block_shaped(const lc_decode_block *b, int D) {
    lc_decode_block c = *b;
    c.head_dim = D, c.keys = c.score_stride = LC_DECODE_BT;
    block_any(&c);
}
static void block_d64(const lc_decode_block *b) { block_shaped(b, 64); }
static void block_d128(const lc_decode_block *b) { block_shaped(b, 128); }

static int rounds_query(lc_dtype t) {
    if (t == LC_INT8) return __builtin_cpu_supports("avx512vnni");
    if (t == LC_FP8 || t == LC_BF16) return __builtin_cpu_supports("avx512bf16");
    return 0;
}

static void block(const lc_decode_block *b) {
    const int full = b->keys == LC_DECODE_BT && b->score_stride == LC_DECODE_BT;
    if (full && b->head_dim == 128) block_d128(b);
    else if (full && b->head_dim == 64) block_d64(b);
    else block_any(b);
}

const lc_decode_ops lc_decode_ops_avx512 = {block, rounds_query};
