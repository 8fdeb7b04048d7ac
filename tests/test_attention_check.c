/* Invalid attention descriptors: each returns the right status and a sentence that names
 * the field; nothing is written. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { B = 2, NQ = 5, NKV = 7, HQ = 4, HKV = 2, D = 32 };

static float q_buf[B * NQ * HQ * D], k_buf[B * NKV * HKV * D], v_buf[B * NKV * HKV * D];
static float out_buf[B * NQ * HQ * D], lse_buf[B * HQ * NQ];

static lc_attention valid(void) {
    lc_attention a;
    memset(&a, 0, sizeof a);
    a.q = lc_tensor_bshd(q_buf, LC_F32, B, NQ, HQ, D);
    a.k = lc_tensor_bshd(k_buf, LC_F32, B, NKV, HKV, D);
    a.v = lc_tensor_bshd(v_buf, LC_F32, B, NKV, HKV, D);
    a.out = lc_tensor_bshd(out_buf, LC_F32, B, NQ, HQ, D);
    a.lse = lse_buf;
    a.mask = lc_mask_causal();
    return a;
}

/* A packed variable-length call over the same buffers, batch 1: sequences of (3 queries, 5
 * keys), (0, 1) and (7, 8), causal. */
static const int32_t vq_starts[4] = {0, 3, 3, 10}, vkv_starts[4] = {0, 5, 6, 14};
static lc_attention valid_varlen(void) {
    lc_attention a = valid();
    a.q = lc_tensor_bshd(q_buf, LC_F32, 1, B * NQ, HQ, D);
    a.k = lc_tensor_bshd(k_buf, LC_F32, 1, B * NKV, HKV, D);
    a.v = lc_tensor_bshd(v_buf, LC_F32, 1, B * NKV, HKV, D);
    a.out = lc_tensor_bshd(out_buf, LC_F32, 1, B * NQ, HQ, D);
    a.varlen = (lc_varlen){3, vq_starts, vkv_starts, 7, 8};
    return a;
}

/* Runs check, naive and flash on `a`; each must return `want` with a sentence holding
 * `needle`. */
static void expect(const char *what, lc_attention a, lc_status want, const char *needle) {
    const char *path[3] = {"check", "naive", "flash"};
    for (int p = 0; p < 3; p++) {
        lc_status s = p == 0 ? lc_attention_check(&a) : p == 1 ? lc_attention_naive(&a, 0) : lc_attention_flash_alloc(&a);
        CHECK(s == want, "%s (%s): got %s, want %s (%s)", what, path[p], lc_status_str(s), lc_status_str(want), lc_last_error());
        CHECK(strstr(lc_last_error(), needle) != NULL, "%s (%s): sentence \"%s\" does not name \"%s\"", what, path[p], lc_last_error(), needle);
    }
}

int main(void) {
    test_seed("test_attention_check");
    lc_attention a = valid();
    CHECK(lc_attention_check(&a) == LC_OK, "the valid descriptor is refused: %s", lc_last_error());
    CHECK(lc_attention_check(NULL) == LC_EINVAL, "NULL descriptor");

    /* null pointers */
    a = valid(); a.q.data = NULL; expect("q.data NULL", a, LC_EINVAL, "q.data");
    a = valid(); a.k.data = NULL; expect("k.data NULL", a, LC_EINVAL, "k.data");
    a = valid(); a.v.data = NULL; expect("v.data NULL", a, LC_EINVAL, "v.data");
    a = valid(); a.out.data = NULL; expect("out.data NULL", a, LC_EINVAL, "out.data");

    /* zero and negative sizes, on every axis of every tensor */
    const char *names[4] = {"q", "k", "v", "out"};
    for (int t = 0; t < 4; t++)
        for (int ax = 0; ax < 4; ax++)
            for (int bad = -1; bad <= 0; bad++) {
                a = valid();
                lc_tensor *tt = t == 0 ? &a.q : t == 1 ? &a.k : t == 2 ? &a.v : &a.out;
                tt->shape[ax] = bad;
                char needle[32], what[64];
                snprintf(needle, sizeof needle, "%s.shape[%d]", names[t], ax);
                snprintf(what, sizeof what, "%s.shape[%d]=%d", names[t], ax, bad);
                expect(what, a, LC_EINVAL, needle);
            }
    a = valid(); a.q.stride[1] = -3; expect("negative stride", a, LC_EINVAL, "q.stride[1]");
    a = valid(); a.k.dtype = (lc_dtype)9; expect("unknown dtype", a, LC_EINVAL, "k.dtype");
    a = valid(); a.v.capacity = 0; expect("zero capacity", a, LC_EINVAL, "v.capacity");

    /* shapes that disagree */
    a = valid(); a.q.shape[2] = 3; a.out.shape[2] = 3; a.q.capacity = a.out.capacity = 1 << 20;
    expect("heads not divisible", a, LC_EINVAL, "k.shape[2]=2 must divide q heads=3");
    a = valid(); a.k.shape[0] = 1; expect("batch mismatch", a, LC_EINVAL, "k.shape[0]");
    a = valid(); a.v.shape[1] = NKV - 1; expect("v keys mismatch", a, LC_EINVAL, "v.shape[1]");
    a = valid(); a.out.shape[1] = NQ - 1; expect("out queries mismatch", a, LC_EINVAL, "out.shape[1]");
    a = valid(); a.k.shape[3] = D / 2; expect("key dim mismatch", a, LC_EINVAL, "k.shape[3]");
    a = valid(); a.out.shape[3] = D / 2; expect("out dim mismatch", a, LC_EINVAL, "out.shape[3]");
    a = valid(); a.v.shape[2] = 1; expect("v heads mismatch", a, LC_EINVAL, "v.shape[2]");

    /* strides past the buffer */
    a = valid(); a.k.stride[1] += 1; expect("k strides past capacity", a, LC_ERANGE, "k:");
    a = valid(); a.out.capacity -= 1; expect("out one element short", a, LC_ERANGE, "capacity");
    a = valid(); a.q.stride[0] = a.q.stride[1] = INT64_MAX / 2; expect("offset overflow", a, LC_ERANGE, "overflow");
    /* a writable view whose indices collide */
    a = valid(); a.out.stride[2] = 0; expect("out heads collide", a, LC_EINVAL, "out");

    /* aliasing */
    a = valid(); a.out.data = q_buf; expect("out aliases q", a, LC_EINVAL, "out overlaps q");
    a = valid(); a.out = lc_tensor_bshd(k_buf, LC_F32, B, NQ, HQ, D / 4); a.out.capacity = B * NKV * HKV * D;
    a.v.shape[3] = D / 4; a.v.capacity = B * NKV * HKV * D;
    expect("out aliases k", a, LC_EINVAL, "out overlaps k");
    a = valid(); a.lse = v_buf; expect("lse aliases v", a, LC_EINVAL, "lse overlaps v");
    a = valid(); a.lse = out_buf + 3; expect("lse aliases out", a, LC_EINVAL, "lse overlaps out");

    /* options */
    a = valid(); a.scale = NAN; expect("scale NaN", a, LC_EINVAL, "scale");
    a = valid(); a.scale = INFINITY; expect("scale inf", a, LC_EINVAL, "scale");
    a = valid(); a.softcap = -1; expect("softcap negative", a, LC_EINVAL, "softcap");
    a = valid(); a.softcap = NAN; expect("softcap NaN", a, LC_EINVAL, "softcap");
    a = valid(); a.threads = -2; expect("threads negative", a, LC_EINVAL, "threads");
    a = valid(); a.isa = (lc_isa)42; expect("isa unknown", a, LC_EINVAL, "isa");
    a = valid(); a.q.shape[3] = a.k.shape[3] = 2048; a.q.capacity = a.k.capacity = 1 << 24;
    expect("head dim too large", a, LC_EUNSUPPORTED, "head dim 2048");

    /* masks */
    a = valid(); a.mask.q_offset = -1; expect("negative offset", a, LC_EINVAL, "mask.q_offset");
    a = valid(); a.mask = lc_mask_sliding_window(4); a.mask.window.left = -5; expect("window left", a, LC_EINVAL, "mask.window.left");
    int64_t unsorted[2] = {3, 1};
    a = valid(); a.mask.global.index = unsorted; a.mask.global.count = 2; expect("globals unsorted", a, LC_EINVAL, "mask.global.index");
    a = valid(); a.mask.global.count = 2; expect("globals NULL", a, LC_EINVAL, "mask.global.index is NULL");
    a = valid(); a.mask.sinks = -1; expect("sinks negative", a, LC_EINVAL, "mask.sinks");

    /* packed variable-length batches */
    a = valid_varlen();
    CHECK(lc_attention_check(&a) == LC_OK, "the valid varlen descriptor is refused: %s", lc_last_error());
    CHECK(lc_attention_naive(&a, 0) == LC_OK && lc_attention_flash_alloc(&a) == LC_OK, "the valid varlen call fails: %s", lc_last_error());
    int32_t bad_q[4], bad_kv[4];
    a = valid_varlen(); a.varlen.count = -1; expect("varlen count negative", a, LC_EINVAL, "varlen.count=-1");
    a = valid_varlen(); a.varlen.q_starts = NULL; expect("varlen q_starts NULL", a, LC_EINVAL, "varlen.q_starts is NULL");
    a = valid_varlen(); a.varlen.kv_starts = NULL; expect("varlen kv_starts NULL", a, LC_EINVAL, "varlen.kv_starts is NULL");
    a = valid(); a.varlen = valid_varlen().varlen; expect("varlen batch 2", a, LC_EINVAL, "q.shape[0]=2 (batch) must be 1 with varlen");
    memcpy(bad_q, vq_starts, sizeof bad_q), bad_q[0] = 1;
    a = valid_varlen(); a.varlen.q_starts = bad_q; expect("varlen q_starts[0] = 1", a, LC_EINVAL, "varlen.q_starts[0]=1 must be 0");
    memcpy(bad_kv, vkv_starts, sizeof bad_kv), bad_kv[2] = 4;
    a = valid_varlen(); a.varlen.kv_starts = bad_kv; expect("varlen kv_starts decreasing", a, LC_EINVAL, "varlen.kv_starts must be nondecreasing: kv_starts[2]=4");
    memcpy(bad_q, vq_starts, sizeof bad_q), bad_q[3] = 9;
    a = valid_varlen(); a.varlen.q_starts = bad_q; expect("varlen q_starts short of n_q", a, LC_EINVAL, "varlen.q_starts[3]=9");
    memcpy(bad_kv, vkv_starts, sizeof bad_kv), bad_kv[3] = 15;
    a = valid_varlen(); a.varlen.kv_starts = bad_kv; expect("varlen kv_starts past n_kv", a, LC_EINVAL, "varlen.kv_starts[3]=15");
    a = valid_varlen(); a.varlen.count = 2; expect("varlen count short", a, LC_EINVAL, "varlen.q_starts[2]=3 (varlen.count=2)");
    a = valid_varlen(); a.varlen.max_q = 8; expect("varlen max_q", a, LC_EINVAL, "varlen.max_q=8 must be the longest sequence's queries, 7");
    a = valid_varlen(); a.varlen.max_kv = 0; expect("varlen max_kv", a, LC_EINVAL, "varlen.max_kv=0 must be the longest sequence's keys, 8");
    a = valid_varlen(); a.mask.q_offset = 2; expect("varlen q_offset", a, LC_EINVAL, "mask.q_offset=2 must be 0 with varlen");
    int64_t globals[1] = {0};
    a = valid_varlen(); a.mask.global.index = globals; a.mask.global.count = 1; expect("varlen global tokens", a, LC_EUNSUPPORTED, "mask.global");
    a = valid_varlen(); a.mask.bigbird = (lc_mask_bigbird){2, 1, 1, 0, 0, B * NKV}; expect("varlen bigbird", a, LC_EUNSUPPORTED, "mask.bigbird");
    uint8_t bits[1] = {1};
    a = valid_varlen(); a.mask.blocks = (lc_mask_blocks){bits, 16, 16, 1, 1}; expect("varlen bitmap", a, LC_EUNSUPPORTED, "mask.blocks");
    memcpy(bad_kv, vkv_starts, sizeof bad_kv), bad_kv[2] = 9; /* the last sequence: 7 queries over 5 keys */
    a = valid_varlen(); a.varlen.kv_starts = bad_kv; a.varlen.max_kv = 5;
    expect("varlen m > n causal", a, LC_EINVAL, "varlen sequence 2 has 7 queries but 5 keys");
    a.mask = lc_mask_full(); a.mask.sinks = 2; expect("varlen m > n sinks", a, LC_EINVAL, "sequence 2 has 7 queries");
    a.mask = lc_mask_full(); a.mask.window = (lc_mask_window){1, 2, 2, 0}; expect("varlen m > n window", a, LC_EINVAL, "sequence 2 has 7 queries");
    a.mask = lc_mask_full(); a.mask.stride.every = 3; expect("varlen m > n stride", a, LC_EINVAL, "sequence 2 has 7 queries");
    a.mask = lc_mask_full();
    CHECK(lc_attention_check(&a) == LC_OK, "varlen m > n under the full mask is refused: %s", lc_last_error());
    a = valid_varlen(); a.varlen.max_q = 8;
    CHECK(lc_attention_active_pairs(&a) == 0, "active pairs of a refused varlen descriptor: %lld", (long long)lc_attention_active_pairs(&a));
    a = valid_varlen(); /* causal, bottom-right: 3 x 5 -> 3+4+5, 7 x 8 -> 2+3+...+8 */
    CHECK(lc_attention_active_pairs(&a) == (12 + 35) * HQ, "active pairs of the valid varlen call: %lld, want %d", (long long)lc_attention_active_pairs(&a),
          (12 + 35) * HQ);

    /* naive refuses when the score matrix passes the caller's limit, naming the bytes */
    a = valid();
    size_t need = (size_t)NQ * NKV * sizeof(double);
    lc_status s = lc_attention_naive(&a, need - 1);
    CHECK(s == LC_ENOMEM, "naive under its limit: got %s", lc_status_str(s));
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%zu", need);
    CHECK(strstr(lc_last_error(), bytes) != NULL, "naive's sentence \"%s\" does not give %s bytes", lc_last_error(), bytes);
    CHECK(lc_attention_naive(&a, need) == LC_OK, "naive at exactly its limit: %s", lc_last_error());

    /* flash's workspace */
    size_t ws = lc_attention_flash_workspace_size(&a);
    CHECK(ws > 0, "workspace size is zero");
    void *mem = malloc(ws);
    s = lc_attention_flash(&a, NULL, ws);
    CHECK(s == LC_EINVAL && strstr(lc_last_error(), "workspace"), "NULL workspace: %s (%s)", lc_status_str(s), lc_last_error());
    s = lc_attention_flash(&a, mem, ws - 1);
    CHECK(s == LC_EINVAL && strstr(lc_last_error(), "workspace"), "small workspace: %s (%s)", lc_status_str(s), lc_last_error());
    CHECK(lc_attention_flash(&a, mem, ws) == LC_OK, "exact workspace: %s", lc_last_error());
    free(mem);

    /* a failed call writes nothing */
    for (size_t i = 0; i < sizeof out_buf / sizeof *out_buf; i++) out_buf[i] = 12345.0f;
    a = valid(); a.softcap = -1;
    lc_attention_flash_alloc(&a);
    lc_attention_naive(&a, 0);
    int untouched = 1;
    for (size_t i = 0; i < sizeof out_buf / sizeof *out_buf; i++) untouched &= out_buf[i] == 12345.0f;
    CHECK(untouched, "a refused call wrote to out");

    /* status names */
    for (int c = LC_OK; c <= LC_EINTERNAL; c++) CHECK(strncmp(lc_status_str((lc_status)c), "LC_", 3) == 0, "status %d unnamed", c);
    return test_finish("test_attention_check");
}
