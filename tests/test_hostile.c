/* Hostile inputs to every public entry point: NULL pointers, zero and negative sizes,
 * sizes past any machine, overlapping outputs, misaligned pointers and NaN / Inf data.
 * Each refusal must be a status (never LC_EINTERNAL) with a sentence of its own: before
 * every call a planted "stale" sentence is set, and a refusal that leaves it (or leaves
 * nothing) fails. Queries that return a number or a name on bad input must not crash and
 * give their documented neutral answer; NaN data is either refused or propagates as the
 * header documents. Run plain and under ASan + UBSan (scripts/test.sh). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "longctx/safetensors.h"
#include "longctx/tokenizer.h"

#define STALE "hostile: a stale sentence from an earlier call"

static void stale(void) { lc_error(LC_EINTERNAL, "%s", STALE); }

static void refused(lc_status st, const char *what, int line) {
    const char *s = lc_last_error();
    CHECK(st != LC_OK && (unsigned)st < LC_EINTERNAL, "line %d: %s: want a refusal, got %s (%s)", line, what, lc_status_str(st), s);
    CHECK(st == LC_OK || (*s && !strstr(s, STALE)), "line %d: %s: %s with the sentence '%s', not its own", line, what, lc_status_str(st), s);
}

static void accepted(lc_status st, const char *what, int line) {
    CHECK(st == LC_OK, "line %d: %s: %s: %s", line, what, lc_status_str(st), lc_last_error());
}

/* REFUSED(call): the call fails with a fresh sentence. OK(call): it succeeds. */
#define REFUSED(call) (stale(), refused((call), #call, __LINE__))
#define OK(call) (stale(), accepted((call), #call, __LINE__))

static const float NaN_ = NAN, Inf_ = INFINITY;

/* A small contiguous f32 [1, n, h, d] tensor of ones. */
static lc_tensor ones(float *buf, int64_t n, int64_t h, int64_t d) {
    for (int64_t i = 0; i < n * h * d; i++) buf[i] = 1.0f;
    return lc_tensor_bshd(buf, LC_F32, 1, n, h, d);
}

static int all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* ---- core ---------------------------------------------------------------------------------- */

static void test_core(void) {
    CHECK(lc_status_str((lc_status)-1) && lc_status_str((lc_status)99), "lc_status_str of unknown codes");
    CHECK(lc_dtype_size((lc_dtype)-1) == 0 && lc_dtype_bits((lc_dtype)99) == 0 && !strcmp(lc_dtype_name((lc_dtype)99), "?"), "unknown dtype");
    CHECK(lc_dtype_is_float((lc_dtype)-3) == 0 && lc_dtype_bytes((lc_dtype)42) == 0, "unknown dtype is not a float");
    lc_dtype t;
    REFUSED(lc_dtype_parse(NULL, &t));
    REFUSED(lc_dtype_parse("f32", NULL));
    REFUSED(lc_dtype_parse("", &t));
    REFUSED(lc_dtype_parse("f32 ", &t));
    /* NaN and Inf through the conversions: kept as they are */
    CHECK(isnan(lc_f16_to_f32(lc_f32_to_f16(NaN_))) && isnan(lc_bf16_to_f32(lc_f32_to_bf16(NaN_))), "NaN survives f16 and bf16");
    CHECK(isinf(lc_f16_to_f32(lc_f32_to_f16(Inf_))) && lc_f16_to_f32(lc_f32_to_f16(1e6f)) == Inf_, "Inf and overflow in f16");
    float src[4] = {NaN_, Inf_, -Inf_, 1}, dst[4];
    lc_convert(dst, LC_F32, src, LC_F32, 0); /* zero elements: nothing */
    lc_convert(dst, LC_F32, src, LC_F32, 4);
    CHECK(isnan(dst[0]) && dst[1] == Inf_ && dst[2] == -Inf_, "lc_convert keeps NaN and Inf");

    /* tensors */
    float buf[64];
    REFUSED(lc_tensor_check(NULL, "x", 0));
    lc_tensor x = lc_tensor_bshd(NULL, LC_F32, 1, 2, 2, 2);
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd(buf, LC_F32, 1, 2, 2, 2);
    OK(lc_tensor_check(&x, "x", 1));
    OK(lc_tensor_check(&x, NULL, 1));
    x.shape[1] = 0;
    REFUSED(lc_tensor_check(&x, "x", 0));
    x.shape[1] = -2;
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd(buf, LC_F32, 1, 2, 2, 2), x.stride[2] = -1;
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd(buf, LC_F32, 1, 2, 2, 2), x.capacity = 7;
    REFUSED(lc_tensor_check(&x, "x", 0));
    x.capacity = 0;
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd(buf, LC_F32, 1, 4, 2, 2), x.stride[1] = INT64_MAX / 2, x.capacity = INT64_MAX;
    REFUSED(lc_tensor_check(&x, "x", 0)); /* offsets overflow */
    x = lc_tensor_bshd(buf, LC_F32, 1, 2, 2, 2), x.stride[1] = 0;
    OK(lc_tensor_check(&x, "x", 0));     /* a broadcast input is fine */
    REFUSED(lc_tensor_check(&x, "x", 1)); /* but not an output */
    x = lc_tensor_bshd(buf, (lc_dtype)17, 1, 2, 2, 2);
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd(buf, LC_INT8, 1, 2, 2, 2);
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd((char *)buf + 1, LC_F32, 1, 2, 2, 2); /* misaligned */
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd((char *)buf + 1, LC_F16, 1, 2, 2, 2);
    REFUSED(lc_tensor_check(&x, "x", 0));
    x = lc_tensor_bshd((char *)buf + 2, LC_BF16, 1, 2, 2, 2);
    OK(lc_tensor_check(&x, "x", 0));

    uintptr_t lo = 1, hi = 1;
    lc_tensor_byte_range(NULL, &lo, &hi);
    CHECK(lo == 0 && hi == 0, "byte range of NULL is empty");
    lc_convert(NULL, LC_F32, NULL, LC_F16, 0);

    /* allocation */
    stale();
    CHECK(lc_aligned_alloc(64, 3) == NULL && !strstr(lc_last_error(), STALE), "a bad alignment: NULL and a sentence");
    stale();
    void *huge = lc_aligned_alloc(SIZE_MAX - 64, 64);
    CHECK(huge == NULL && strstr(lc_last_error(), "bytes"), "an impossible allocation: NULL and the bytes asked for: %s", lc_last_error());
    lc_aligned_free(NULL);
    void *zero = lc_aligned_alloc(0, 64);
    CHECK(zero != NULL, "a zero-byte allocation gives a pointer");
    lc_aligned_free(zero);

    /* threads: negative is the default, huge is clamped */
    CHECK(lc_threads_resolve(-5) == lc_threads_default() && lc_threads_resolve(100000) == LC_THREADS_MAX, "threads: %d %d",
          lc_threads_resolve(-5), lc_threads_resolve(100000));
    setenv("LONGCTX_THREADS", "999999", 1);
    CHECK(lc_threads_default() == LC_THREADS_MAX, "LONGCTX_THREADS clamped");
    setenv("LONGCTX_THREADS", "-3", 1);
    CHECK(lc_threads_default() >= 1 && lc_threads_default() <= LC_THREADS_MAX, "a bad LONGCTX_THREADS is ignored");
    unsetenv("LONGCTX_THREADS");

    /* ISA */
    lc_isa isa;
    REFUSED(lc_isa_resolve((lc_isa)-1, &isa));
    REFUSED(lc_isa_resolve((lc_isa)9, &isa));
    REFUSED(lc_isa_resolve(LC_ISA_AUTO, NULL));
    CHECK(!strcmp(lc_isa_name((lc_isa)9), "?") && lc_isa_supported((lc_isa)9) == 0, "unknown ISA");

    /* RNG: zero-length fills and a huge thread count */
    lc_rng_fill_uniform(NULL, 0, 1, 0, 0, 1, 0);
    lc_rng_fill_normal(buf, 8, 1, 0, 0, 1, 100000);
    CHECK(all_finite(buf, 8), "normal draws are finite");
    CHECK(lc_rng_below(1, 2, 1) == 0, "below(1) is 0");
}

/* ---- masks and attention ----------------------------------------------------------------------- */

static void test_attention(void) {
    lc_mask m = lc_mask_full();
    REFUSED(lc_mask_check(NULL, 4, 4));
    REFUSED(lc_mask_check(&m, 0, 4));
    REFUSED(lc_mask_check(&m, 4, -1));
    m.window.enabled = 1, m.window.left = -7, m.window.right = 0;
    REFUSED(lc_mask_check(&m, 4, 4));
    m = lc_mask_full(), m.global.count = 3, m.global.index = NULL;
    REFUSED(lc_mask_check(&m, 4, 4));
    int64_t unsorted[2] = {3, 1};
    m.global.count = 2, m.global.index = unsorted;
    REFUSED(lc_mask_check(&m, 4, 4));
    m = lc_mask_full(), m.bigbird.block = 2, m.bigbird.random_blocks = LC_MASK_MAX_RANDOM_BLOCKS + 1, m.bigbird.n_keys = 4;
    REFUSED(lc_mask_check(&m, 4, 4));
    m = lc_mask_full(), m.blocks.block_q = 2, m.blocks.block_k = 2, m.blocks.n_qb = 1, m.blocks.n_kb = 1;
    static const uint8_t bits[1] = {1};
    m.blocks.bits = bits;
    REFUSED(lc_mask_check(&m, 4, 4)); /* the bitmap covers 2 x 2 of a 4 x 4 problem */
    m = lc_mask_sliding_window(-3);
    REFUSED(lc_mask_check(&m, 4, 4));
    m = lc_mask_causal(), m.sinks = -1;
    REFUSED(lc_mask_check(&m, 4, 4));
    m = lc_mask_causal();
    CHECK(lc_mask_count(&m, 0, 0) == 0 || 1, "count of nothing");

    /* the mask's queries on NULL: nothing visible, no crash */
    uint8_t cells[4] = {9, 9, 9, 9};
    CHECK(lc_mask_allows(NULL, 0, 0) == 0 && lc_mask_count(NULL, 4, 4) == 0 && lc_mask_classify_tile(NULL, 0, 2, 0, 2) == LC_TILE_EMPTY,
          "mask queries of NULL");
    lc_mask_fill_tile(NULL, 0, 2, 0, 2, cells, 2);
    CHECK(cells[0] == 0 && cells[3] == 0, "fill of a NULL mask: nothing visible");
    lc_mask_fill_tile(&m, 0, 2, 0, 2, NULL, 2);
    m = lc_mask_causal();
    CHECK(lc_mask_count(&m, -3, 4) == 0 && lc_mask_count(&m, 4, -1) == 0, "count of negative sizes");
    CHECK(lc_attention_active_pairs(NULL) == 0, "active pairs of NULL");

    float q[64], k[64], v[64], o[64], lse[8];
    lc_attention a = {0};
    REFUSED(lc_attention_check(NULL));
    REFUSED(lc_attention_naive(NULL, 0));
    REFUSED(lc_attention_flash(NULL, NULL, 0));
    REFUSED(lc_attention_flash_alloc(NULL));
    CHECK(lc_attention_flash_workspace_size(NULL) == 0, "workspace of NULL is 0");
    REFUSED(lc_attention_check(&a)); /* all zero */
    a.q = ones(q, 4, 2, 4), a.k = ones(k, 4, 2, 4), a.v = ones(v, 4, 2, 4), a.out = lc_tensor_bshd(o, LC_F32, 1, 4, 2, 4);
    a.mask = lc_mask_causal();
    OK(lc_attention_flash_alloc(&a));
    lc_attention b = a;
    b.out = lc_tensor_bshd(q, LC_F32, 1, 4, 2, 4); /* out aliases q */
    REFUSED(lc_attention_check(&b));
    b = a, b.lse = k; /* lse overlaps k */
    REFUSED(lc_attention_check(&b));
    b = a, b.lse = o + 4; /* lse overlaps out */
    REFUSED(lc_attention_check(&b));
    b = a, b.scale = NaN_;
    REFUSED(lc_attention_flash_alloc(&b));
    b = a, b.softcap = -1;
    REFUSED(lc_attention_flash_alloc(&b));
    b = a, b.softcap = Inf_;
    REFUSED(lc_attention_flash_alloc(&b));
    b = a, b.threads = -1;
    REFUSED(lc_attention_flash_alloc(&b));
    b = a, b.threads = 100000; /* clamped, not a crash */
    OK(lc_attention_flash_alloc(&b));
    b = a, b.isa = (lc_isa)77;
    REFUSED(lc_attention_flash_alloc(&b));
    b = a, b.k.shape[2] = 3; /* 3 kv heads do not divide 2 */
    REFUSED(lc_attention_check(&b));
    b = a, b.q.data = (char *)q + 2; /* misaligned */
    REFUSED(lc_attention_flash_alloc(&b));
    b = a, b.q.shape[3] = 5000, b.k.shape[3] = 5000, b.q.stride[3] = b.k.stride[3] = 0; /* a head dim past the limit */
    REFUSED(lc_attention_check(&b));
    uint8_t ws[64];
    size_t need = lc_attention_flash_workspace_size(&a);
    CHECK(need > 0, "flash needs a workspace");
    REFUSED(lc_attention_flash(&a, ws, need > 0 ? need - 1 : 0)); /* too small */
    REFUSED(lc_attention_flash(&a, NULL, need));
    REFUSED(lc_attention_naive(&a, 8)); /* over the score-byte limit */
    /* NaN or Inf in an input reaches the rows that see it, on every vector path and in the
     * reference, never a silent 0 (attention.h); flash's tile products may carry a non-finite
     * key or value into other rows of its tile (0 x Inf), so those are not checked for it */
    for (int isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++) {
        if (!lc_isa_supported((lc_isa)isa)) continue;
        for (int naive = 0; naive < 2; naive++) {
            b = a, b.isa = (lc_isa)isa, b.lse = lse;
            q[0] = NaN_; /* row 0 of head 0, which sees key 0 only */
            OK(naive ? lc_attention_naive(&b, 0) : lc_attention_flash_alloc(&b));
            CHECK(isnan(o[0]) && isnan(lse[0]) && all_finite(o + 8, 24), "%s %s: NaN in q reaches its row only: o %g lse %g", lc_isa_name((lc_isa)isa),
                  naive ? "naive" : "flash", o[0], lse[0]);
            q[0] = 1, k[2 * 4 * 2] = NaN_; /* key 2 of head 0: rows 2 and 3 of heads 0 and 1 see it */
            OK(naive ? lc_attention_naive(&b, 0) : lc_attention_flash_alloc(&b));
            CHECK((!naive || all_finite(o, 2 * 2 * 4)) && isnan(o[2 * 8]) && isnan(o[3 * 8]), "%s %s: NaN in a key reaches the rows that see it",
                  lc_isa_name((lc_isa)isa), naive ? "naive" : "flash");
            k[2 * 4 * 2] = 1, v[3 * 8] = Inf_; /* value 3 of head 0: row 3 only */
            OK(naive ? lc_attention_naive(&b, 0) : lc_attention_flash_alloc(&b));
            CHECK((!naive || all_finite(o, 3 * 2 * 4)) && !isfinite(o[3 * 8]), "%s %s: Inf in a value reaches row 3", lc_isa_name((lc_isa)isa),
                  naive ? "naive" : "flash");
            v[3 * 8] = 1;
        }
    }
}

/* ---- KV caches and decode ---------------------------------------------------------------------- */

static void test_cache(void) {
    lc_kv_config c = {.layout = LC_KV_CONTIGUOUS, .dtype = LC_F32, .heads_kv = 2, .head_dim = 4, .max_seqs = 2, .capacity = 8};
    lc_kv_cache *kv = (lc_kv_cache *)&c;
    REFUSED(lc_kv_config_check(NULL));
    REFUSED(lc_kv_create(NULL, &kv));
    REFUSED(lc_kv_create(&c, NULL));
    lc_kv_config bad = c;
    bad.heads_kv = 0;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.head_dim = -4;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.max_seqs = -1;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.capacity = (int64_t)1 << 62; /* past any machine: refused before a product overflows */
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.max_seqs = INT32_MAX, bad.capacity = (int64_t)1 << 40;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.layout = LC_KV_PAGED, bad.block_size = 0, bad.num_blocks = 4;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.layout = (lc_kv_layout)9;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.dtype = LC_INT4;
    REFUSED(lc_kv_create(&bad, &kv));
    bad = c, bad.layout = LC_KV_SINKS, bad.window = 4, bad.sinks = -1;
    REFUSED(lc_kv_create(&bad, &kv));
    lc_kv_destroy(NULL);
    CHECK(lc_kv_seq_kept(NULL, 0) < 0 && lc_kv_max_spans(NULL, 0) == 0 && lc_kv_free_blocks(NULL) == 0 && lc_kv_slots(NULL) == 0 &&
              lc_kv_slot_bytes(NULL) == 0 && lc_kv_footprint(NULL) == 0,
          "cache queries of NULL");
    lc_kv_store_row(NULL, NULL, LC_F32, NULL, 0);
    lc_kv_load_row(NULL, NULL, 1, LC_F32, 0);
    CHECK(lc_kv_config_of(NULL) == NULL && lc_kv_bytes(NULL) == 0 && lc_kv_seq_len(NULL, 0) < 0, "queries of a NULL cache");
    CHECK(!strcmp(lc_kv_layout_name((lc_kv_layout)-1), "?"), "unknown layout name");

    OK(lc_kv_create(&c, &kv));
    int seq = -1;
    REFUSED(lc_kv_seq_new(NULL, &seq));
    REFUSED(lc_kv_seq_new(kv, NULL));
    OK(lc_kv_seq_new(kv, &seq));
    float k[8 * 8], v[8 * 8], q[8 * 8], out[8 * 8];
    for (int i = 0; i < 64; i++) k[i] = v[i] = q[i] = 1;
    REFUSED(lc_kv_append(NULL, seq, 0, k, v, 1));
    REFUSED(lc_kv_append(kv, seq, 0, NULL, v, 1));
    REFUSED(lc_kv_append(kv, seq, 0, k, NULL, 1));
    REFUSED(lc_kv_append(kv, seq, 0, k, v, -1));
    REFUSED(lc_kv_append(kv, seq, 0, k, v, 9)); /* past capacity */
    REFUSED(lc_kv_append(kv, 7, 0, k, v, 1));   /* no such sequence */
    REFUSED(lc_kv_append(kv, -1, 0, k, v, 1));
    REFUSED(lc_kv_append(kv, seq, 5, k, v, 1)); /* not the next position */
    REFUSED(lc_kv_append(kv, seq, -1, k, v, 1));
    OK(lc_kv_append(kv, seq, 0, k, v, 4));
    REFUSED(lc_kv_seq_fork(kv, 9, &seq));
    REFUSED(lc_kv_seq_fork(kv, seq, NULL));
    REFUSED(lc_kv_seq_remove(kv, 9));
    REFUSED(lc_kv_seq_remove(NULL, 0));
    lc_kv_span spans[4];
    int64_t count;
    REFUSED(lc_kv_spans(kv, seq, NULL, 4, &count));
    REFUSED(lc_kv_spans(kv, seq, spans, 4, NULL));
    REFUSED(lc_kv_spans(kv, 9, spans, 4, &count));
    REFUSED(lc_kv_spans(NULL, seq, spans, 4, &count));

    lc_decode d = {.cache = kv, .seq = seq, .q = q, .n_q = 1, .heads_q = 4, .out = out};
    REFUSED(lc_decode_check(NULL));
    REFUSED(lc_decode_attention(NULL, NULL, 0));
    REFUSED(lc_decode_attention_alloc(NULL));
    CHECK(lc_decode_workspace_size(NULL) == 0 && lc_decode_bytes_read(NULL) == 0 && lc_decode_rounds_query(NULL) == 0, "decode queries of NULL");
    OK(lc_decode_attention_alloc(&d));
    lc_decode e = d;
    e.cache = NULL;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.q = NULL;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.out = NULL;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.n_q = 0;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.n_q = 5; /* more queries than the sequence holds */
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.heads_q = 3; /* not a multiple of the 2 kv heads */
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.heads_q = -2;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.seq = 9;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.scale = NaN_;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.split = -1;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.threads = -1;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.isa = (lc_isa)42;
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.out = q; /* out aliases q */
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.lse = q + 2; /* lse overlaps q */
    REFUSED(lc_decode_attention_alloc(&e));
    e = d, e.lse = out; /* lse overlaps out */
    REFUSED(lc_decode_attention_alloc(&e));
    size_t need = lc_decode_workspace_size(&d);
    void *ws = malloc(need);
    REFUSED(lc_decode_attention(&d, ws, need - 1));
    REFUSED(lc_decode_attention(&d, NULL, need));
    free(ws);
    /* non-finite queries are refused (decode.h): the fast paths round them into garbage */
    q[0] = NaN_;
    REFUSED(lc_decode_attention_alloc(&d));
    q[0] = 1, q[7] = -Inf_;
    REFUSED(lc_decode_check(&d));
    q[7] = 1;
    /* non-finite keys and values are refused before anything is written (cache.h) */
    lc_kv_config c8 = c;
    c8.dtype = LC_INT8;
    lc_kv_cache *kv8;
    OK(lc_kv_create(&c8, &kv8));
    int s8;
    OK(lc_kv_seq_new(kv8, &s8));
    k[1] = Inf_;
    REFUSED(lc_kv_append(kv8, s8, 0, k, v, 2));
    k[1] = 1, v[9] = NaN_;
    REFUSED(lc_kv_append(kv8, s8, 0, k, v, 2));
    CHECK(lc_kv_seq_len(kv8, s8) == 0, "a refused append writes nothing");
    v[9] = 1;
    REFUSED(lc_kv_append(kv8, s8, 0, k, v, (int64_t)1 << 50));
    lc_kv_destroy(kv8);
    lc_kv_destroy(kv);
}

/* ---- MLA --------------------------------------------------------------------------------------- */

static void test_mla(void) {
    float wuk[2 * 4 * 8], wuv[2 * 4 * 8], lat[4 * 8], kr[4 * 2], qn[2 * 4], qr[2 * 2], out[2 * 4];
    for (int i = 0; i < 64; i++) wuk[i] = wuv[i] = 0.1f;
    for (int i = 0; i < 32; i++) lat[i] = 1;
    for (int i = 0; i < 8; i++) kr[i] = qn[i] = 1;
    qr[0] = qr[1] = qr[2] = qr[3] = 1;
    lc_mla m = {.heads = 2, .rank = 8, .nope = 4, .rope = 2, .v_dim = 4, .w_uk = wuk, .w_uv = wuv};
    lc_mla_cache *c = NULL;
    REFUSED(lc_mla_check(NULL));
    REFUSED(lc_mla_cache_create(NULL, 4, &c));
    REFUSED(lc_mla_cache_create(&m, 4, NULL));
    REFUSED(lc_mla_cache_create(&m, 0, &c));
    REFUSED(lc_mla_cache_create(&m, -5, &c));
    REFUSED(lc_mla_cache_create(&m, (int64_t)1 << 62, &c)); /* past any machine */
    lc_mla bad = m;
    bad.heads = 0;
    REFUSED(lc_mla_check(&bad));
    bad = m, bad.w_uv = NULL;
    REFUSED(lc_mla_check(&bad));
    bad = m, bad.scale = NaN_;
    REFUSED(lc_mla_check(&bad));
    bad = m, bad.dtype = LC_INT4;
    REFUSED(lc_mla_check(&bad));
    lc_mla_cache_destroy(NULL);
    lc_mla_cache_reset(NULL);
    CHECK(lc_mla_cache_len(NULL) < 0 && lc_mla_cache_bytes(NULL) == 0, "queries of a NULL MLA cache");
    OK(lc_mla_cache_create(&m, 4, &c));
    REFUSED(lc_mla_cache_append(NULL, 0, lat, kr, 1));
    REFUSED(lc_mla_cache_append(c, 0, NULL, kr, 1));
    REFUSED(lc_mla_cache_append(c, 0, lat, NULL, 1));
    REFUSED(lc_mla_cache_append(c, 0, lat, kr, -1));
    REFUSED(lc_mla_cache_append(c, 0, lat, kr, 5));
    REFUSED(lc_mla_cache_append(c, 3, lat, kr, 1));
    OK(lc_mla_cache_append(c, 0, lat, kr, 2));
    REFUSED(lc_mla_cache_copy(NULL, c));
    REFUSED(lc_mla_cache_copy(c, NULL));
    lc_mla_attention a = {.mla = &m, .cache = c, .q_nope = qn, .q_rope = qr, .n_q = 1, .out = out};
    REFUSED(lc_mla_attention_check(NULL));
    REFUSED(lc_mla_prefill(NULL));
    REFUSED(lc_mla_decode(NULL, NULL, 0));
    REFUSED(lc_mla_decode_alloc(NULL));
    CHECK(lc_mla_decode_workspace_size(NULL) == 0, "MLA workspace of NULL");
    OK(lc_mla_decode_alloc(&a));
    lc_mla_attention b = a;
    b.n_q = 0;
    REFUSED(lc_mla_decode_alloc(&b));
    b = a, b.n_q = 3; /* more than the cache holds */
    REFUSED(lc_mla_prefill(&b));
    b = a, b.out = NULL;
    REFUSED(lc_mla_decode_alloc(&b));
    b = a, b.q_rope = NULL;
    REFUSED(lc_mla_decode_alloc(&b));
    b = a, b.cache = NULL;
    REFUSED(lc_mla_decode_alloc(&b));
    b = a, b.out = qn; /* out aliases q_nope */
    REFUSED(lc_mla_decode_alloc(&b));
    b = a, b.out = (float *)lat; /* out aliases the cache's inputs? no: the caller's lat; allowed */
    size_t need = lc_mla_decode_workspace_size(&a);
    void *ws = malloc(need);
    REFUSED(lc_mla_decode(&a, ws, need - 1));
    free(ws);
    lc_mla_cache_destroy(c);
}

/* ---- RoPE, linear attention, SSMs ---------------------------------------------------------------- */

static void test_rope(void) {
    lc_rope r = {.type = LC_ROPE_DEFAULT, .head_dim = 8, .theta = 10000, .max_pos = 64};
    REFUSED(lc_rope_check(NULL));
    lc_rope b = r;
    b.theta = NaN_;
    REFUSED(lc_rope_check(&b));
    b = r, b.theta = 0.5;
    REFUSED(lc_rope_check(&b));
    b = r, b.head_dim = 7;
    REFUSED(lc_rope_check(&b));
    b = r, b.head_dim = -8;
    REFUSED(lc_rope_check(&b));
    b = r, b.partial = 2;
    REFUSED(lc_rope_check(&b));
    b = r, b.type = LC_ROPE_LINEAR; /* no factor */
    REFUSED(lc_rope_check(&b));
    b = r, b.type = LC_ROPE_LINEAR, b.factor = Inf_;
    REFUSED(lc_rope_check(&b));
    b = r, b.type = (lc_rope_type)40;
    REFUSED(lc_rope_check(&b));
    b = r, b.type = LC_ROPE_LONGROPE, b.original_max_pos = 32; /* no factors */
    REFUSED(lc_rope_check(&b));
    double f[4], att;
    REFUSED(lc_rope_inv_freq(NULL, 4, f, &att));
    REFUSED(lc_rope_inv_freq(&r, 4, NULL, &att));
    OK(lc_rope_inv_freq(&r, 4, f, &att));
    float buf[4 * 8];
    lc_tensor x = ones(buf, 4, 1, 8);
    int64_t pos[4] = {0, 1, 2, 3};
    REFUSED(lc_rope_apply(NULL, &x, pos, 0, 4));
    REFUSED(lc_rope_apply(&r, NULL, pos, 0, 4));
    OK(lc_rope_apply(&r, &x, pos, 0, 4));
    OK(lc_rope_apply(&r, &x, NULL, 0, 4));
    REFUSED(lc_rope_apply(&r, &x, pos, 0, -4));
    b = r, b.mscale = NaN_;
    REFUSED(lc_rope_check(&b));
    lc_tensor y = x;
    y.shape[3] = 4;
    REFUSED(lc_rope_apply(&r, &y, pos, 0, 4)); /* the tensor's dim is not the rope's */
    buf[0] = NaN_;
    OK(lc_rope_apply(&r, &x, pos, 0, 4));
    CHECK(isnan(buf[0]) && all_finite(buf + 8, 24), "NaN stays in its row under RoPE");
}

static void test_linear(void) {
    float q[4 * 2 * 4], k[4 * 2 * 4], v[4 * 2 * 4], o[4 * 2 * 4], state[256], omega[4 * 4];
    lc_linear_attention a = {0};
    REFUSED(lc_linear_attention_check(NULL));
    REFUSED(lc_linear_attention_naive(NULL, 0));
    REFUSED(lc_linear_attention_forward(NULL, state, 256, NULL, 0));
    REFUSED(lc_linear_attention_forward_alloc(NULL, state, 256));
    REFUSED(lc_linear_attention_step(NULL, state, 256));
    CHECK(lc_linear_attention_workspace_size(NULL) == 0 && lc_linear_state_floats(NULL) == 0 && lc_linear_features(NULL) == 0, "queries of NULL");
    REFUSED(lc_linear_attention_check(&a));
    a.q = ones(q, 4, 2, 4), a.k = ones(k, 4, 2, 4), a.v = ones(v, 4, 2, 4), a.out = lc_tensor_bshd(o, LC_F32, 1, 4, 2, 4);
    a.causal = 1, a.normalize = 1;
    int64_t sf = lc_linear_state_floats(&a) * 2;
    memset(state, 0, sizeof state);
    OK(lc_linear_attention_forward_alloc(&a, state, sf));
    lc_linear_attention b = a;
    REFUSED(lc_linear_attention_forward_alloc(&b, state, sf - 1));
    REFUSED(lc_linear_attention_forward_alloc(&b, state, -1));
    b.out = lc_tensor_bshd(v, LC_F32, 1, 4, 2, 4); /* out aliases v */
    REFUSED(lc_linear_attention_check(&b));
    b = a, b.feature = LC_FEATURE_FAVOR, b.features = 4, b.omega = NULL;
    REFUSED(lc_linear_attention_check(&b));
    b = a, b.feature = (lc_feature_map)9;
    REFUSED(lc_linear_attention_check(&b));
    b = a, b.chunk = -1;
    REFUSED(lc_linear_attention_check(&b));
    float decay[2] = {NaN_, 0.5f};
    b = a, b.decay = decay;
    REFUSED(lc_linear_attention_check(&b));
    decay[0] = 2;
    REFUSED(lc_linear_attention_check(&b));
    REFUSED(lc_favor_draw(NULL, 4, 4, 1, 0));
    REFUSED(lc_favor_draw(omega, 0, 4, 1, 0));
    REFUSED(lc_favor_draw(omega, 4, -4, 1, 0));
    CHECK(!strcmp(lc_feature_map_name((lc_feature_map)9), "?"), "unknown feature map name");
}

static void test_ssm(void) {
    enum { B = 1, N = 3, E = 4, S = 2 };
    float x[B * N * E], dt[B * N * E], A[E * S], Bm[B * N * S], Cm[B * N * S], y[B * N * E], h[B * E * S];
    for (int i = 0; i < B * N * E; i++) x[i] = 1, dt[i] = 0.1f;
    for (int i = 0; i < E * S; i++) A[i] = -1;
    for (int i = 0; i < B * N * S; i++) Bm[i] = Cm[i] = 1;
    memset(h, 0, sizeof h);
    lc_selective_scan s = {B, N, E, S, x, dt, NULL, A, Bm, Cm, NULL, NULL, y, h, B * E * S, 0, LC_ISA_AUTO};
    REFUSED(lc_selective_scan_check(NULL));
    REFUSED(lc_selective_scan_f32(NULL));
    REFUSED(lc_selective_scan_naive(NULL));
    OK(lc_selective_scan_f32(&s));
    lc_selective_scan b = s;
    b.n = 0;
    REFUSED(lc_selective_scan_f32(&b));
    b = s, b.channels = -4;
    REFUSED(lc_selective_scan_f32(&b));
    b = s, b.x = NULL;
    REFUSED(lc_selective_scan_f32(&b));
    b = s, b.h_floats = 3;
    REFUSED(lc_selective_scan_f32(&b));
    b = s, b.threads = -2;
    REFUSED(lc_selective_scan_f32(&b));
    b = s, b.y = x; /* the output aliases an input */
    REFUSED(lc_selective_scan_f32(&b));
    b = s, b.h = y; /* the state aliases the output */
    REFUSED(lc_selective_scan_f32(&b));
    /* NaN propagates forward in time (documented in ssm.h) */
    memset(h, 0, sizeof h);
    x[E] = NaN_; /* token 1, channel 0 */
    OK(lc_selective_scan_f32(&s));
    CHECK(isfinite(y[0]) && isnan(y[E]) && isnan(y[2 * E]) && isfinite(y[E + 1]), "NaN reaches its channel from its token on");
    x[E] = 1;

    /* the causal conv1d in front of the scans */
    float cst[E * 3], cw[E * 4];
    memset(cst, 0, sizeof cst);
    for (int i = 0; i < E * 4; i++) cw[i] = 0.25f;
    lc_causal_conv1d cv = {B, N, E, 4, x, E, cw, NULL, y, E, cst, B * E * 3};
    REFUSED(lc_causal_conv1d_check(NULL));
    REFUSED(lc_causal_conv1d_f32(NULL));
    OK(lc_causal_conv1d_f32(&cv));
    lc_causal_conv1d cb = cv;
    cb.n = -1;
    REFUSED(lc_causal_conv1d_f32(&cb));
    cb = cv, cb.w = NULL;
    REFUSED(lc_causal_conv1d_f32(&cb));
    cb = cv, cb.kernel = 0;
    REFUSED(lc_causal_conv1d_f32(&cb));
    cb = cv, cb.y_stride = E - 1;
    REFUSED(lc_causal_conv1d_f32(&cb));
    cb = cv, cb.x_stride = (int64_t)1 << 60;
    REFUSED(lc_causal_conv1d_f32(&cb));
    cb = cv, cb.state = y; /* the state aliases the output */
    REFUSED(lc_causal_conv1d_f32(&cb));

    float xs[B * N * 2 * 2], dts[B * N * 2], As[2] = {-1, -1}, Bs[B * N * S], Cs[B * N * S], ys[B * N * 2 * 2], hs[B * 2 * 2 * S];
    for (int i = 0; i < B * N * 4; i++) xs[i] = 1;
    for (int i = 0; i < B * N * 2; i++) dts[i] = 0.1f;
    for (int i = 0; i < B * N * S; i++) Bs[i] = Cs[i] = 1;
    memset(hs, 0, sizeof hs);
    lc_ssd d = {.batch = B, .n = N, .heads = 2, .head_dim = 2, .groups = 1, .state = S, .x = xs, .dt = dts, .A = As, .B = Bs, .C = Cs,
                .y = ys, .h = hs, .h_floats = B * 2 * 2 * S};
    REFUSED(lc_ssd_check(NULL));
    REFUSED(lc_ssd_naive(NULL));
    REFUSED(lc_ssd_step(NULL));
    REFUSED(lc_ssd_chunked(NULL, NULL, 0));
    REFUSED(lc_ssd_chunked_alloc(NULL));
    CHECK(lc_ssd_workspace_size(NULL) == 0, "SSD workspace of NULL");
    OK(lc_ssd_chunked_alloc(&d));
    lc_ssd e = d;
    e.groups = 3; /* does not divide the heads */
    REFUSED(lc_ssd_chunked_alloc(&e));
    e = d, e.chunk = -1;
    REFUSED(lc_ssd_chunked_alloc(&e));
    e = d, e.dt_min = NaN_;
    REFUSED(lc_ssd_chunked_alloc(&e));
    e = d, e.dt_min = 2, e.dt_max = 1;
    REFUSED(lc_ssd_chunked_alloc(&e));
    e = d, e.y = xs;
    REFUSED(lc_ssd_chunked_alloc(&e));
    size_t need = lc_ssd_workspace_size(&d);
    void *ws = malloc(need ? need : 1);
    if (need) REFUSED(lc_ssd_chunked(&d, ws, need - 1));
    free(ws);

    lc_mamba_weights mw = {0};
    lc_mamba2_weights m2 = {0};
    lc_mixer_io io = {0};
    REFUSED(lc_mamba_weights_check(NULL));
    REFUSED(lc_mamba2_weights_check(NULL));
    REFUSED(lc_mamba_weights_check(&mw));
    REFUSED(lc_mamba2_weights_check(&m2));
    REFUSED(lc_mamba_prefill(NULL, &io));
    REFUSED(lc_mamba_prefill(&mw, NULL));
    REFUSED(lc_mamba2_prefill(NULL, &io));
    REFUSED(lc_mamba_step(&mw, NULL));
    REFUSED(lc_mamba2_step(NULL, NULL));
    CHECK(lc_mamba_conv_state_floats(NULL, 1) == 0 && lc_mamba2_ssm_state_floats(NULL, 1) == 0, "state sizes of NULL");
    CHECK(isfinite(lc_softplus(1e30f)) && isnan(lc_softplus(NaN_)), "softplus: large passes through, NaN stays NaN");
}

/* ---- memory, block retrieval, ring ------------------------------------------------------------- */

static void test_memory(void) {
    lc_knn_memory_config c = {.heads = 1, .d_k = 4, .d_v = 4, .capacity = 16, .index = LC_MEMORY_EXACT};
    lc_knn_memory *m = NULL;
    REFUSED(lc_knn_memory_config_check(NULL));
    REFUSED(lc_knn_memory_create(NULL, &m));
    REFUSED(lc_knn_memory_create(&c, NULL));
    lc_knn_memory_config b = c;
    b.capacity = 0;
    REFUSED(lc_knn_memory_create(&b, &m));
    b = c, b.d_k = -1;
    REFUSED(lc_knn_memory_create(&b, &m));
    b = c, b.capacity = (int64_t)1 << 62;
    REFUSED(lc_knn_memory_create(&b, &m));
    b = c, b.index = (lc_memory_index)5;
    REFUSED(lc_knn_memory_create(&b, &m));
    b = c, b.segment = 17;
    REFUSED(lc_knn_memory_create(&b, &m));
    lc_knn_memory_destroy(NULL);
    CHECK(lc_knn_memory_first(NULL) == 0 && lc_knn_memory_size(NULL) == 0 && lc_knn_memory_bytes(NULL) == 0 && lc_knn_memory_config_of(NULL) == NULL, "queries of a NULL memory");
    OK(lc_knn_memory_create(&c, &m));
    float kbuf[4 * 4], vbuf[4 * 4], qbuf[4], key[4], val[4], score[8];
    int64_t pos[8];
    lc_tensor k = ones(kbuf, 4, 1, 4), v = ones(vbuf, 4, 1, 4), q = ones(qbuf, 1, 1, 4);
    REFUSED(lc_knn_memory_append(NULL, &k, &v));
    REFUSED(lc_knn_memory_append(m, NULL, &v));
    REFUSED(lc_knn_memory_append(m, &k, NULL));
    kbuf[5] = NaN_; /* a non-finite key is refused (memory.h), the memory left as it was */
    REFUSED(lc_knn_memory_append(m, &k, &v));
    CHECK(lc_knn_memory_size(m) == 0, "a refused append leaves the memory as it was");
    kbuf[5] = 1;
    lc_tensor wrong = ones(kbuf, 4, 1, 3);
    REFUSED(lc_knn_memory_append(m, &wrong, &v));
    OK(lc_knn_memory_append(m, &k, &v));
    REFUSED(lc_knn_memory_search(NULL, &q, 1, pos, score));
    REFUSED(lc_knn_memory_search(m, NULL, 1, pos, score));
    REFUSED(lc_knn_memory_search(m, &q, 1, NULL, score));
    REFUSED(lc_knn_memory_search(m, &q, 1, pos, NULL));
    REFUSED(lc_knn_memory_search(m, &q, 0, pos, score));
    REFUSED(lc_knn_memory_search(m, &q, -3, pos, score));
    REFUSED(lc_knn_memory_search(m, &q, 5, pos, score)); /* more than the 4 held */
    qbuf[0] = NaN_;
    stale();
    lc_status st = lc_knn_memory_search(m, &q, 1, pos, score);
    CHECK(st == LC_OK || (*lc_last_error() && !strstr(lc_last_error(), STALE)), "a NaN query: refused or answered: %s", lc_last_error());
    qbuf[0] = 1;
    REFUSED(lc_knn_memory_get(NULL, 0, 0, key, val));
    REFUSED(lc_knn_memory_get(m, 1, 0, key, val));
    REFUSED(lc_knn_memory_get(m, 0, 4, key, val));
    REFUSED(lc_knn_memory_get(m, 0, -1, key, val));
    REFUSED(lc_knn_memory_get(m, 0, 0, NULL, val));
    REFUSED(lc_knn_memory_save(NULL, "/tmp/x"));
    REFUSED(lc_knn_memory_save(m, NULL));
    REFUSED(lc_knn_memory_save(m, "/nonexistent-dir/x.lcknn"));
    lc_knn_memory *back = (lc_knn_memory *)&back;
    REFUSED(lc_knn_memory_load(NULL, 0, &back));
    REFUSED(lc_knn_memory_load("/tmp/x", 0, NULL));
    REFUSED(lc_knn_memory_load("/nonexistent-dir/x.lcknn", 0, &back));
    CHECK(back == NULL, "a failed load gives NULL");

    /* a saved memory with a bad header field and a valid checksum: refused with its own reason */
    char path[] = "/tmp/longctx-hostile-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        close(fd);
        OK(lc_knn_memory_save(m, path));
        FILE *f = fopen(path, "r+b");
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        unsigned char *bytes = malloc((size_t)n);
        fseek(f, 0, SEEK_SET);
        size_t got = fread(bytes, 1, (size_t)n, f);
        CHECK(got == (size_t)n, "read back");
        const int fields[] = {12, 13, 10, 6}; /* reserved, reserved, first, hnsw_m */
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            unsigned char *copy = malloc((size_t)n);
            memcpy(copy, bytes, (size_t)n);
            int64_t v64 = fields[i] == 6 ? (int64_t)1 << 40 : fields[i] == 10 ? -7 : 1;
            memcpy(copy + 16 + 8 * fields[i], &v64, 8);
            uint64_t hsum = 0xcbf29ce484222325ull;
            for (long j = 0; j < n - 8; j++) hsum = (hsum ^ copy[j]) * 0x100000001b3ull;
            memcpy(copy + n - 8, &hsum, 8);
            fseek(f, 0, SEEK_SET);
            fwrite(copy, 1, (size_t)n, f);
            fflush(f);
            lc_knn_memory *bad_mem = NULL;
            lc_knn_memory_config ok_cfg = c;
            lc_knn_memory *other = NULL;
            OK(lc_knn_memory_create(&ok_cfg, &other)); /* a successful call just before: its (empty) sentence must not be the reason */
            lc_knn_memory_destroy(other);
            REFUSED(lc_knn_memory_load(path, 1, &bad_mem));
            CHECK(strstr(lc_last_error(), "inconsistent header") && strstr(lc_last_error(), "("), "bad header field %d: '%s'", fields[i], lc_last_error());
            CHECK(!strstr(lc_last_error(), "()"), "bad header field %d: an empty reason: '%s'", fields[i], lc_last_error());
            free(copy);
        }
        fclose(f);
        free(bytes);
        unlink(path);
    }
    lc_knn_memory_destroy(m);

    lc_knn_attention ka = {0};
    REFUSED(lc_knn_attention_check(NULL));
    REFUSED(lc_knn_attention_retrieve(NULL));
    REFUSED(lc_knn_attention_check(&ka));
    lc_block_attention ba = {0};
    REFUSED(lc_block_attention_check(NULL));
    REFUSED(lc_block_attention_retrieve(NULL, NULL, 0));
    REFUSED(lc_block_attention_retrieve_alloc(NULL));
    REFUSED(lc_block_attention_check(&ba));
    CHECK(lc_block_attention_workspace_size(NULL) == 0, "block workspace of NULL");
}

static void test_ring(void) {
    lc_ring r = {0};
    REFUSED(lc_ring_check(NULL));
    REFUSED(lc_ring_check(&r)); /* no transport */
    REFUSED(lc_ring_attention(NULL, NULL, 0, NULL));
    REFUSED(lc_ring_attention_alloc(NULL, NULL));
    REFUSED(lc_ring_attention_alloc(&r, NULL));
    CHECK(lc_ring_workspace_size(NULL) == 0, "ring workspace of NULL");
    REFUSED(lc_ring_split_check(LC_RING_ZIGZAG, 0, 16));
    REFUSED(lc_ring_split_check(LC_RING_ZIGZAG, 4, 6));
    REFUSED(lc_ring_split_check(LC_RING_ZIGZAG, 2, -8));
    REFUSED(lc_ring_split_check((lc_ring_layout)7, 2, 8));
    CHECK(lc_ring_chunks((lc_ring_layout)7) >= 0, "chunks of an unknown layout");
    CHECK(lc_ring_needs(NULL, 0, 0) == 0 && lc_ring_last_hop(NULL, 0) < 0, "ring plan queries of NULL");
    CHECK(lc_ring_compute_cpu() != NULL, "the CPU compute table");
}

/* ---- cost model -------------------------------------------------------------------------------- */

static void test_cost(void) {
    lc_model_shape m;
    REFUSED(lc_model_preset(NULL, &m));
    REFUSED(lc_model_preset("llama-3.1-8b", NULL));
    REFUSED(lc_model_check(NULL));
    REFUSED(lc_model_from_config_text(NULL, "x", 0, &m));
    REFUSED(lc_model_from_config_text("{}", "x", 0, NULL));
    REFUSED(lc_model_from_config_text("{}", NULL, 0, &m));
    REFUSED(lc_model_from_config_text("{\"num_hidden_layers\": 2}", "x", NaN_, &m));
    REFUSED(lc_model_from_config_file(NULL, 0, &m));
    REFUSED(lc_model_from_config_file("/nonexistent/config.json", 0, &m));
    REFUSED(lc_model_from_config_file("/dev/null", 0, &m));
    REFUSED(lc_model_layer_kinds_from_config_text("{}", "x", NULL, 2));
    lc_layer_kind kinds[4];
    REFUSED(lc_model_layer_kinds_from_config_text(NULL, "x", kinds, 4));
    OK(lc_model_preset("llama-3.1-8b", &m));
    lc_model_shape b = m;
    b.params = NaN_;
    REFUSED(lc_model_check(&b));
    b = m, b.layers = -1;
    REFUSED(lc_model_check(&b));
    b = m, b.kv_heads = 0;
    REFUSED(lc_model_check(&b));
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    OK(lc_cost_check(&p));
    REFUSED(lc_cost_check(NULL));
    lc_cost_problem q = p;
    q.batch = 0;
    REFUSED(lc_cost_check(&q));
    q = p, q.window = -1;
    REFUSED(lc_cost_check(&q));
    q = p, q.score_dtype = (lc_dtype)42;
    REFUSED(lc_cost_check(&q));
    lc_cost_row row;
    REFUSED(lc_cost_eval(NULL, LC_TECH_FLASH, 16, &row));
    REFUSED(lc_cost_eval(&p, LC_TECH_FLASH, 16, NULL));
    REFUSED(lc_cost_eval(&p, (lc_technique)99, 16, &row));
    REFUSED(lc_cost_eval(&p, LC_TECH_FLASH, 0, &row));
    REFUSED(lc_cost_eval(&p, LC_TECH_FLASH, -5, &row));
    REFUSED(lc_cost_eval(&p, LC_TECH_FLASH, LC_COST_MAX_TOKENS + 1, &row));
    int64_t n;
    REFUSED(lc_cost_max_context(&p, LC_TECH_FLASH, NaN_, &n));
    REFUSED(lc_cost_max_context(&p, LC_TECH_FLASH, -1, &n));
    REFUSED(lc_cost_max_context(&p, LC_TECH_FLASH, 80e9, NULL));
    REFUSED(lc_cost_max_context(NULL, LC_TECH_FLASH, 80e9, &n));
    double bytes;
    REFUSED(lc_cost_parse_bytes(NULL, &bytes));
    REFUSED(lc_cost_parse_bytes("80GB", NULL));
    REFUSED(lc_cost_parse_bytes("nan", &bytes));
    REFUSED(lc_cost_parse_bytes("inf GB", &bytes));
    REFUSED(lc_cost_parse_bytes("-1GB", &bytes));
    REFUSED(lc_cost_parse_bytes("1e400", &bytes));
    REFUSED(lc_cost_gpu_memory(NULL, &bytes));
    REFUSED(lc_cost_gpu_memory("h100-80gb", NULL));
    lc_technique t;
    REFUSED(lc_technique_parse(NULL, &t));
    REFUSED(lc_technique_parse("flash", NULL));
    CHECK(lc_technique_name((lc_technique)99) != NULL, "name of an unknown technique");
    CHECK(lc_cost_applies(NULL, LC_TECH_FLASH) == 0 && lc_cost_applies(&p, (lc_technique)99) == 0, "applies to nothing");
    CHECK(lc_pairs_causal(-4) == 0 && lc_pairs_sliding(-1, 4) == 0 && lc_pairs_sliding(8, -2) == 0, "pair counts of negative lengths");
    CHECK(lc_pairs_bigbird(64, 0, 1, 1, 1) == 0 && lc_pairs_bigbird(-64, 8, 1, 1, 1) == 0 && lc_pairs_longformer(-1, 2, 2) == 0,
          "pair counts of a zero block or a negative length");
    CHECK(isfinite(lc_pairs_bigbird(INT64_MAX, 1, INT64_MAX, INT64_MAX, INT64_MAX)) && isfinite(lc_pairs_longformer(INT64_MAX, INT64_MAX, -5)) &&
              isfinite(lc_sum_clamped(INT64_MIN, INT64_MAX, INT64_MAX, INT64_MIN, INT64_MAX)),
          "pair counts of absurd sizes are finite");
}

/* ---- model, safetensors, tokenizer --------------------------------------------------------------- */

static void test_model(void) {
    static lc_model_config cfg;
    REFUSED(lc_model_config_parse(NULL, "x", &cfg));
    REFUSED(lc_model_config_parse("{}", "x", NULL));
    REFUSED(lc_model_config_read(NULL, &cfg));
    REFUSED(lc_model_config_read("/nonexistent", &cfg));
    lc_model *m = (lc_model *)&m;
    REFUSED(lc_model_load(NULL, &m));
    REFUSED(lc_model_load("/nonexistent", &m));
    REFUSED(lc_model_load("/tmp", NULL));
    lc_model_destroy(NULL);
    CHECK(lc_model_config_of(NULL) == NULL, "config of a NULL model");
    lc_model_info info;
    memset(&info, 0xff, sizeof info);
    lc_model_get_info(NULL, &info);
    CHECK(info.files == 0 && info.params == 0, "info of a NULL model is zero");
    CHECK(!strcmp(lc_arch_name((lc_arch)99), "?"), "unknown arch name");
    lc_rope none = lc_model_config_rope(NULL);
    CHECK(lc_rope_check(&none) != LC_OK, "the rope of a NULL config is no rope");
    lc_context_config cc = {0};
    lc_context *ctx = (lc_context *)&ctx;
    REFUSED(lc_context_config_check(NULL, &cc));
    REFUSED(lc_context_create(NULL, &cc, &ctx));
    lc_context_destroy(NULL);
    int seq;
    int32_t tok = 0;
    float logits[4];
    REFUSED(lc_context_seq_new(NULL, &seq));
    REFUSED(lc_context_seq_fork(NULL, 0, &seq));
    REFUSED(lc_context_seq_remove(NULL, 0));
    REFUSED(lc_context_prefill(NULL, 0, &tok, 1, logits, 0));
    REFUSED(lc_context_decode(NULL, 1, &seq, &tok, logits));
    CHECK(lc_context_seq_len(NULL, 0) < 0 && lc_context_cache_bytes(NULL, 0) == 0 && lc_context_alloc_bytes(NULL) == 0 && lc_context_model(NULL) == NULL,
          "queries of a NULL context");
    char text[64];
    CHECK(lc_context_describe(NULL, text, sizeof text) != NULL, "describe of a NULL context");
    lc_cost_problem p;
    lc_technique t;
    REFUSED(lc_context_cost_problem(NULL, &p, &t));

    lc_sampler s = {0};
    REFUSED(lc_sampler_check(NULL));
    lc_sampler b = s;
    b.temperature = NaN_;
    REFUSED(lc_sampler_check(&b));
    b = s, b.temperature = -1;
    REFUSED(lc_sampler_check(&b));
    b = s, b.top_k = -1;
    REFUSED(lc_sampler_check(&b));
    b = s, b.top_p = 1.5;
    REFUSED(lc_sampler_check(&b));
    b = s, b.top_p = NaN_;
    REFUSED(lc_sampler_check(&b));
    float lg[4] = {1, 2, 3, 4};
    int32_t id;
    size_t wsb = lc_sample_workspace_size(4);
    void *ws = malloc(wsb ? wsb : 1);
    REFUSED(lc_sample(NULL, lg, 4, 0, ws, wsb, &id));
    REFUSED(lc_sample(&s, NULL, 4, 0, ws, wsb, &id));
    REFUSED(lc_sample(&s, lg, 0, 0, ws, wsb, &id));
    REFUSED(lc_sample(&s, lg, -4, 0, ws, wsb, &id));
    REFUSED(lc_sample(&s, lg, 4, 0, ws, wsb, NULL));
    OK(lc_sample(&s, lg, 4, 0, ws, wsb, &id));
    CHECK(id == 3, "greedy picks the largest");
    lc_sampler hot = {.temperature = 1};
    if (wsb) REFUSED(lc_sample(&hot, lg, 4, 0, ws, wsb - 1, &id));
    float nanlg[4] = {1, NaN_, 3, 2};
    stale();
    lc_status st = lc_sample(&hot, nanlg, 4, 0, ws, wsb, &id);
    CHECK((st == LC_OK && id >= 0 && id < 4) || (st != LC_OK && *lc_last_error() && !strstr(lc_last_error(), STALE)), "NaN logits: %s %s",
          lc_status_str(st), lc_last_error());
    float allinf[4] = {-Inf_, -Inf_, -Inf_, -Inf_};
    stale();
    st = lc_sample(&hot, allinf, 4, 0, ws, wsb, &id);
    CHECK((st == LC_OK && id >= 0 && id < 4) || (st != LC_OK && *lc_last_error() && !strstr(lc_last_error(), STALE)), "-Inf logits: %s %s",
          lc_status_str(st), lc_last_error());
    free(ws);
    CHECK(lc_argmax(lg, 0) < 0 || lc_argmax(lg, 0) == 0, "argmax of nothing");
}

/* A real checkpoint (tests/fixtures/models/llama) and its tokenizer: the context and tokenizer
 * calls with bad sequences, tokens, counts and buffers. */
static char fixtures[1024];

static void test_context(void) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/models/llama", fixtures);
    lc_model *m = NULL;
    stale();
    if (lc_model_load(dir, &m)) {
        CHECK(0, "load %s: %s", dir, lc_last_error());
        return;
    }
    const int64_t V = lc_model_config_of(m)->vocab;
    lc_context_config cc = {.max_seqs = 2, .max_tokens = 16};
    lc_context_config bad = cc;
    lc_context *ctx = (lc_context *)&ctx;
    bad.max_seqs = -1;
    REFUSED(lc_context_create(m, &bad, &ctx));
    bad = cc, bad.max_tokens = -5;
    REFUSED(lc_context_create(m, &bad, &ctx));
    bad = cc, bad.max_tokens = (int64_t)1 << 60; /* more memory than exists: refused, not a crash */
    REFUSED(lc_context_create(m, &bad, &ctx));
    bad = cc, bad.threads = -1;
    REFUSED(lc_context_create(m, &bad, &ctx));
    bad = cc, bad.kv_dtype = (lc_dtype)42;
    REFUSED(lc_context_create(m, &bad, &ctx));
    bad = cc, bad.window = -3;
    REFUSED(lc_context_create(m, &bad, &ctx));
    bad = cc, bad.block_size = -16, bad.kv_layout = LC_KV_PAGED;
    REFUSED(lc_context_create(m, &bad, &ctx));
    REFUSED(lc_context_create(m, &cc, NULL));
    OK(lc_context_create(m, NULL, &ctx) == LC_OK ? (lc_context_destroy(ctx), LC_OK) : LC_EINVAL); /* NULL config: the defaults */
    OK(lc_context_create(m, &cc, &ctx));
    int seq = -1, seq2;
    REFUSED(lc_context_seq_new(ctx, NULL));
    OK(lc_context_seq_new(ctx, &seq));
    float *logits = malloc(sizeof(float) * (size_t)V * 4);
    int32_t toks[4] = {1, 2, 3, 4}, bad_tok[2] = {1, -1}, big_tok[1] = {(int32_t)V};
    REFUSED(lc_context_prefill(ctx, seq, NULL, 2, logits, 0));
    REFUSED(lc_context_prefill(ctx, seq, toks, 0, logits, 0));
    REFUSED(lc_context_prefill(ctx, seq, toks, -2, logits, 0));
    REFUSED(lc_context_prefill(ctx, seq, bad_tok, 2, logits, 0));
    REFUSED(lc_context_prefill(ctx, seq, big_tok, 1, logits, 0));
    REFUSED(lc_context_prefill(ctx, 7, toks, 2, logits, 0));
    REFUSED(lc_context_prefill(ctx, -1, toks, 2, logits, 0));
    CHECK(lc_context_seq_len(ctx, seq) == 0, "refused prefills leave the sequence empty");
    OK(lc_context_prefill(ctx, seq, toks, 4, logits, 1));
    CHECK(all_finite(logits, V * 4), "logits are finite");
    REFUSED(lc_context_decode(ctx, 0, &seq, toks, logits));
    REFUSED(lc_context_decode(ctx, -1, &seq, toks, logits));
    REFUSED(lc_context_decode(ctx, 1, NULL, toks, logits));
    REFUSED(lc_context_decode(ctx, 1, &seq, NULL, logits));
    REFUSED(lc_context_decode(ctx, 1, &seq, big_tok, logits));
    int twice[2] = {seq, seq};
    REFUSED(lc_context_decode(ctx, 2, twice, toks, logits)); /* one sequence twice in a batch */
    REFUSED(lc_context_seq_fork(ctx, 9, &seq2));
    REFUSED(lc_context_seq_fork(ctx, seq, NULL));
    REFUSED(lc_context_seq_remove(ctx, 9));
    CHECK(lc_context_seq_len(ctx, 9) < 0 && lc_context_cache_bytes(ctx, 9) == 0, "queries of an unknown sequence");
    char text[8];
    CHECK(lc_context_describe(ctx, text, sizeof text) != NULL && memchr(text, 0, sizeof text), "describe into a small buffer");
    CHECK(lc_context_describe(ctx, NULL, 0) != NULL || 1, "describe into nothing");
    lc_context_destroy(ctx);
    free(logits);
    lc_model_get_info(m, NULL);
    lc_model_destroy(m);

    lc_tokenizer *t = NULL;
    OK(lc_tokenizer_load(dir, &t));
    if (!t) return;
    int32_t ids[64], *out = NULL;
    int64_t n;
    size_t len;
    REFUSED(lc_tokenizer_encode(t, NULL, 3, 0, ids, 64, &n));
    OK(lc_tokenizer_encode(t, NULL, 0, 0, ids, 64, &n));
    REFUSED(lc_tokenizer_encode(t, "abc", 3, 0, ids, 64, NULL));
    REFUSED(lc_tokenizer_encode(t, "abc", 3, 0, NULL, 64, &n));
    REFUSED(lc_tokenizer_encode(t, "abc", 3, 0, ids, -1, &n));
    REFUSED(lc_tokenizer_encode(t, "a\xff\xfe", 3, 0, ids, 64, &n)); /* not UTF-8 */
    REFUSED(lc_tokenizer_encode(t, "hello world", 11, 0, ids, 1, &n));  /* too small: LC_ERANGE with the count */
    CHECK(n > 1, "the count needed: %lld", (long long)n);
    REFUSED(lc_tokenizer_encode_alloc(t, "abc", 3, 0, NULL, &n));
    OK(lc_tokenizer_encode_alloc(t, "hello", 5, 1, &out, &n));
    free(out);
    int32_t weird[4] = {-1, (int32_t)lc_tokenizer_vocab_size(t), INT32_MAX, 5};
    char *dec = NULL;
    OK(lc_tokenizer_decode_alloc(t, weird, 4, 0, &dec, &len)); /* unknown ids are skipped (tokenizer.h) */
    free(dec);
    REFUSED(lc_tokenizer_decode(t, weird, -1, 0, text, sizeof text, &len));
    REFUSED(lc_tokenizer_decode(t, NULL, 2, 0, text, sizeof text, &len));
    REFUSED(lc_tokenizer_decode(t, weird, 4, 0, NULL, 8, &len));
    REFUSED(lc_tokenizer_decode(t, weird, 4, 0, text, sizeof text, NULL));
    REFUSED(lc_tokenizer_decode_alloc(t, weird, 4, 0, NULL, &len));
    int32_t id;
    REFUSED(lc_tokenizer_token_id(t, NULL, &id));
    REFUSED(lc_tokenizer_token_id(t, "a", NULL));
    REFUSED(lc_tokenizer_token_id(t, "no such token, surely", &id));
    CHECK(lc_tokenizer_token_str(t, -1) == NULL && lc_tokenizer_token_str(t, INT32_MAX) == NULL && lc_tokenizer_is_special(t, -5) == 0,
          "out-of-range ids have no string");
    lc_tokenizer_destroy(t);

    lc_safetensors *st = NULL;
    OK(lc_safetensors_open(dir, &st));
    if (!st) return;
    CHECK(lc_safetensors_at(st, -1) == NULL && lc_safetensors_at(st, lc_safetensors_count(st)) == NULL && lc_safetensors_find(st, NULL) == NULL &&
              lc_safetensors_metadata(st, NULL) == NULL,
          "safetensors queries out of range");
    lc_safetensors_destroy(st);
}

static void test_files(void) {
    lc_safetensors *st = (lc_safetensors *)&st;
    REFUSED(lc_safetensors_open(NULL, &st));
    REFUSED(lc_safetensors_open("/nonexistent.safetensors", &st));
    REFUSED(lc_safetensors_open("/dev/null", &st));
    REFUSED(lc_safetensors_open("/tmp", NULL));
    lc_safetensors_destroy(NULL);
    CHECK(lc_safetensors_count(NULL) == 0 && lc_safetensors_at(NULL, 0) == NULL && lc_safetensors_find(NULL, "x") == NULL &&
              lc_safetensors_file_count(NULL) == 0 && lc_safetensors_mapped_bytes(NULL) == 0 && lc_safetensors_metadata(NULL, "x") == NULL,
          "queries of a NULL safetensors set");
    CHECK(lc_st_dtype_name((lc_dtype)42) != NULL, "name of an unknown dtype");

    lc_tokenizer *t = (lc_tokenizer *)&t;
    REFUSED(lc_tokenizer_load(NULL, &t));
    REFUSED(lc_tokenizer_load("/nonexistent/tokenizer.json", &t));
    REFUSED(lc_tokenizer_load("/dev/null", &t));
    REFUSED(lc_tokenizer_load("/tmp", NULL));
    lc_tokenizer_destroy(NULL);
    int32_t ids[4], *out = NULL;
    int64_t n;
    char text[16], *dec = NULL;
    size_t len;
    REFUSED(lc_tokenizer_encode(NULL, "a", 1, 0, ids, 4, &n));
    REFUSED(lc_tokenizer_encode_alloc(NULL, "a", 1, 0, &out, &n));
    REFUSED(lc_tokenizer_decode(NULL, ids, 1, 0, text, sizeof text, &len));
    REFUSED(lc_tokenizer_decode_alloc(NULL, ids, 1, 0, &dec, &len));
    int32_t id;
    REFUSED(lc_tokenizer_token_id(NULL, "a", &id));
    CHECK(lc_tokenizer_vocab_size(NULL) == 0 && lc_tokenizer_token_str(NULL, 0) == NULL && lc_tokenizer_is_special(NULL, 0) == 0 &&
              lc_tokenizer_bos(NULL) == -1 && lc_tokenizer_eos(NULL) == -1,
          "queries of a NULL tokenizer");
}

int main(void) {
    snprintf(fixtures, sizeof fixtures, "%s", __FILE__); /* tests/fixtures of the source tree */
    char *slash = strrchr(fixtures, '/');
    if (slash) strcpy(slash, "/fixtures");
    else strcpy(fixtures, "fixtures");
    test_seed("test_hostile");
    test_core();
    test_attention();
    test_cache();
    test_mla();
    test_rope();
    test_linear();
    test_ssm();
    test_memory();
    test_ring();
    test_cost();
    test_model();
    test_files();
    test_context();
    return test_finish("test_hostile");
}
