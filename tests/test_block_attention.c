/* Block retrieval (landmark attention) against lc_attention_naive on fresh random inputs:
 * with every block chosen it is causal attention; with top_blocks < blocks, a float64
 * re-derivation of the chosen blocks becomes a per-head bitmap mask for the reference.
 * Landmarks are the block means or the caller's; sinks, windows, GQA, dtypes, n = 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "memory_util.h"

/* The reference for one (batch, head): which keys each query row may see, as a bitmap
 * over (absolute query position, key). near_tie[i] is set where the last chosen and the
 * best unchosen block score within 1e-4 of each other, which float32 may order otherwise. */
static void reference_visible(const lc_block_attention *a, int64_t b, int64_t h, uint8_t *bits, uint8_t *near_tie) {
    const int64_t n_q = a->q.shape[1], n_kv = a->k.shape[1], dk = a->q.shape[3], bs = a->block, hk = h / (a->q.shape[2] / a->k.shape[2]);
    memset(bits, 0, (size_t)((a->q_offset + n_q) * n_kv));
    for (int64_t i = 0; i < n_q; i++) {
        int64_t p = a->q_offset + i, w0 = p - a->window + 1 < 0 ? 0 : p - a->window + 1, lb = w0 / bs * bs, nb = lb / bs;
        uint8_t *row = bits + p * n_kv;
        double *score = malloc((size_t)(nb + 1) * sizeof(double));
        for (int64_t j = 0; j < nb; j++) {
            double s = 0;
            for (int64_t d = 0; d < dk; d++) {
                double l = 0;
                if (a->landmarks.data) l = mem_test_elem(&a->landmarks, b, j, hk, d);
                else {
                    for (int64_t t = j * bs; t < (j + 1) * bs; t++) l += mem_test_elem(&a->k, b, t, hk, d);
                    l /= (double)bs;
                }
                s += (double)mem_test_elem(&a->q, b, i, h, d) * l;
            }
            score[j] = s;
        }
        double last = INFINITY;
        for (int64_t r = 0; r < a->top_blocks && r < nb; r++) { /* take the best remaining block, lower index on ties */
            int64_t best = -1;
            for (int64_t j = 0; j < nb; j++)
                if (score[j] > -INFINITY && (best < 0 || score[j] > score[best])) best = j;
            last = score[best], score[best] = -INFINITY;
            memset(row + best * bs, 1, (size_t)bs);
        }
        near_tie[i] = 0;
        for (int64_t j = 0; j < nb; j++)
            if (score[j] > -INFINITY && last - score[j] < 1e-4 * (1 + fabs(last))) near_tie[i] = 1;
        for (int64_t t = 0; t < a->sinks && t <= p; t++) row[t] = 1;
        for (int64_t t = lb; t <= p; t++) row[t] = 1;
        free(score);
    }
}

static long rows_compared;

static void one_case(test_rng *r, int all_blocks, int landmarks) {
    lc_block_attention a = {0};
    int64_t batch = 1 + (int64_t)test_below(r, 2), hkv = 1 + (int64_t)test_below(r, 2), hq = hkv * (1 + (int64_t)test_below(r, 3));
    int64_t n_kv = 1 + (int64_t)test_below(r, test_below(r, 3) ? 400 : 40), n_q = 1 + (int64_t)test_below(r, (uint64_t)(n_kv < 50 ? n_kv : 50));
    int64_t dk = 1 + (int64_t)test_below(r, 70), dv = test_below(r, 2) ? dk : 1 + (int64_t)test_below(r, 70);
    a.q = mem_test_tensor((lc_dtype)test_below(r, 3), batch, n_q, hq, dk, r);
    a.k = mem_test_tensor((lc_dtype)test_below(r, 3), batch, n_kv, hkv, dk, r);
    a.v = mem_test_tensor((lc_dtype)test_below(r, 3), batch, n_kv, hkv, dv, r);
    a.out = mem_test_tensor(LC_F32, batch, n_q, hq, dv, r);
    a.q_offset = n_kv - n_q - (int64_t)test_below(r, 2) * (int64_t)test_below(r, (uint64_t)(n_kv - n_q + 1));
    a.block = 1 + (int64_t)test_below(r, 40);
    a.window = 1 + (int64_t)test_below(r, (uint64_t)n_kv);
    a.sinks = test_below(r, 2) ? (int64_t)test_below(r, 10) : 0;
    a.top_blocks = all_blocks ? n_kv : (int64_t)test_below(r, 6);
    a.scale = test_below(r, 2) ? 0.0f : (float)(0.05 + test_uniform(r));
    a.threads = 1 + (int)test_below(r, 3);
    if (landmarks) a.landmarks = mem_test_tensor((lc_dtype)test_below(r, 3), batch, n_kv / a.block + 1, hkv, dk, r);
    memset(a.out.data, 0xff, (size_t)(batch * n_q * hq * dv) * sizeof(float));
    lc_status st = lc_block_attention_retrieve_alloc(&a);
    CHECK(st == LC_OK, "block attention: %s", lc_last_error());

    lc_attention ref = {0};
    ref.scale = a.scale, ref.mask.causal = 1, ref.mask.q_offset = a.q_offset;
    ref.out = mem_test_tensor(LC_F32, 1, n_q, 1, dv, r);
    uint8_t *bits = malloc((size_t)((a.q_offset + n_q) * n_kv)), *near_tie = calloc((size_t)n_q, 1);
    double worst = 0;
    int ok = st == LC_OK;
    for (int64_t b = 0; ok && b < batch; b++)
        for (int64_t h = 0; h < hq; h++) {
            lc_tensor qb = a.q, kb = a.k, vb = a.v;
            qb.shape[0] = kb.shape[0] = vb.shape[0] = 1;
            qb.data = (char *)a.q.data + (size_t)(b * a.q.stride[0]) * lc_dtype_size(a.q.dtype), qb.capacity -= b * a.q.stride[0];
            kb.data = (char *)a.k.data + (size_t)(b * a.k.stride[0]) * lc_dtype_size(a.k.dtype), kb.capacity -= b * a.k.stride[0];
            vb.data = (char *)a.v.data + (size_t)(b * a.v.stride[0]) * lc_dtype_size(a.v.dtype), vb.capacity -= b * a.v.stride[0];
            ref.q = mem_test_head(&qb, h), ref.k = mem_test_head(&kb, h / (hq / hkv)), ref.v = mem_test_head(&vb, h / (hq / hkv));
            if (!all_blocks) {
                reference_visible(&a, b, h, bits, near_tie);
                ref.mask.blocks = (lc_mask_blocks){bits, 1, 1, a.q_offset + n_q, n_kv};
            }
            st = lc_attention_naive(&ref, 0);
            CHECK(st == LC_OK, "naive: %s", lc_last_error());
            for (int64_t i = 0; i < n_q; rows_compared += !near_tie[i], i++)
                for (int64_t d = 0; !near_tie[i] && d < dv; d++) {
                    double want = mem_test_elem(&ref.out, 0, i, 0, d), err = fabs(mem_test_elem(&a.out, b, i, h, d) - want);
                    if (!(err <= 1e-5 * (1 + fabs(want)))) ok = 0;
                    if (err > worst) worst = err;
                }
        }
    CHECK(ok, "block attention (%s, %s landmarks): batch %lld heads %lld/%lld n_q=%lld n_kv=%lld q_offset=%lld d %lld/%lld block=%lld top=%lld window=%lld sinks=%lld: worst |err| %g",
          all_blocks ? "every block" : "top blocks", landmarks ? "given" : "mean", (long long)batch, (long long)hq, (long long)hkv, (long long)n_q, (long long)n_kv,
          (long long)a.q_offset, (long long)dk, (long long)dv, (long long)a.block, (long long)a.top_blocks, (long long)a.window, (long long)a.sinks, worst);
    free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data), free(a.landmarks.data), free(ref.out.data), free(bits), free(near_tie);
}

static void test_bad_input(test_rng *r) {
    lc_block_attention a = {0};
    a.q = mem_test_tensor(LC_F32, 1, 4, 2, 8, r), a.k = mem_test_tensor(LC_F32, 1, 10, 2, 8, r);
    a.v = mem_test_tensor(LC_F32, 1, 10, 2, 8, r), a.out = mem_test_tensor(LC_F32, 1, 4, 2, 8, r);
    a.q_offset = 6, a.block = 2, a.window = 2, a.top_blocks = 1;
    CHECK(lc_block_attention_retrieve_alloc(&a) == LC_OK, "valid call: %s", lc_last_error());
    lc_block_attention b = a;
    b.q_offset = 7;
    CHECK(lc_block_attention_retrieve_alloc(&b) == LC_ERANGE && strstr(lc_last_error(), "q_offset"), "q past the keys: %s", lc_last_error());
    b = a, b.block = 0;
    CHECK(lc_block_attention_retrieve_alloc(&b) == LC_EINVAL && strstr(lc_last_error(), "block=0"), "block 0: %s", lc_last_error());
    b = a, b.window = 0;
    CHECK(lc_block_attention_retrieve_alloc(&b) == LC_EINVAL && strstr(lc_last_error(), "window=0"), "window 0: %s", lc_last_error());
    b = a, b.q.shape[3] = 7;
    CHECK(lc_block_attention_retrieve_alloc(&b) == LC_EINVAL && strstr(lc_last_error(), "shape[3]"), "q width: %s", lc_last_error());
    b = a, b.landmarks = mem_test_tensor(LC_F32, 1, 1, 2, 8, r);
    CHECK(lc_block_attention_retrieve_alloc(&b) == LC_EINVAL && strstr(lc_last_error(), "landmarks.shape[1]=1"), "too few landmarks: %s", lc_last_error());
    char small[16];
    CHECK(lc_block_attention_retrieve(&a, small, sizeof small) == LC_EINVAL && strstr(lc_last_error(), "workspace"), "small workspace: %s", lc_last_error());
    free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data), free(b.landmarks.data);
}

int main(void) {
    uint64_t seed = test_seed("test_block_attention");
    test_rng r = {seed, 0};
    for (int rep = 0; rep < 40; rep++) one_case(&r, 1, rep % 2);
    for (int rep = 0; rep < 60; rep++) one_case(&r, 0, rep % 2);
    test_bad_input(&r);
    printf("test_block_attention: %ld query rows compared\n", rows_compared);
    return test_finish("test_block_attention");
}
