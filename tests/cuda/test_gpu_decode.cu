// GPU decode (lc_cuda_decode) over contiguous and paged KV caches (bf16, f16, int8) against
// the CPU float64 reference (lc_attention_naive) on the same dequantised keys and values,
// fresh random inputs each run: batches of sequences of different lengths (or all of one,
// without lens), GQA groups, several new tokens, block sizes that do and do not divide the
// lengths, blocks placed in a shuffled pool, causal masks, windows with sinks, sinks alone,
// bidirectional windows, soft-capping, forced split counts. Outputs are poisoned before
// each run. The cases and their tolerance are tests/cases/decode_cases.c's
// (DECODE_GPU_*); the inputs are drawn here, fresh from the run's seed. Without a GPU it
// exits 77 (CTest: skipped).
//
//   test_gpu_decode [--quick | --smoke] [--seed S]
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "decode_cases.h"

#include "gpu_check.h"

template <typename T> static T *to_device(const std::vector<T> &h) {
    T *p;
    CUDA_OK(cudaMalloc(&p, h.size() * sizeof(T) + 16));
    CUDA_OK(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
    return p;
}

static uint64_t draw(uint64_t *s) {  // splitmix64: the sequences' lengths and the pool's order
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int run(const decode_case &c, uint64_t seed, uint64_t *counter) {
    const int B = c.batch, H = c.heads_kv, D = c.head_dim, HQ = H * c.group, NQ = c.n_q, max_len = (int)c.len;
    const decode_tolerance *tol = decode_tolerance_of(&c);
    const size_t esz = lc_dtype_size(c.dtype), row = (size_t)H * D;
    uint64_t rs = seed ^ (*counter * 7919);
    std::vector<int32_t> lens(B);
    for (int b = 0; b < B; b++) lens[b] = b == 0 || c.no_lens ? max_len : NQ + (int)(draw(&rs) % (uint64_t)(max_len - NQ + 1));

    // slots: contiguous b * max_len + j; paged: blocks of a shuffled pool with spare blocks
    std::vector<int32_t> table;
    int max_blocks = 0, pool = 0;
    int64_t slots = (int64_t)B * max_len;
    if (c.layout == LC_KV_PAGED) {
        max_blocks = (max_len + c.block_size - 1) / c.block_size;
        pool = B * max_blocks + 3;
        std::vector<int32_t> ids(pool);
        for (int i = 0; i < pool; i++) ids[i] = i;
        for (int i = pool - 1; i > 0; i--) std::swap(ids[i], ids[draw(&rs) % (uint64_t)(i + 1)]);
        table.assign((size_t)B * max_blocks, -1);  // entries past a sequence's end stay invalid
        for (int b = 0, next = 0; b < B; b++)
            for (int k = 0; k < (lens[b] + c.block_size - 1) / c.block_size; k++) table[(size_t)b * max_blocks + k] = ids[next++];
        slots = (int64_t)pool * c.block_size;
    }
    auto slot_of = [&](int b, int j) -> int64_t {
        return c.layout == LC_KV_PAGED ? (int64_t)table[(size_t)b * max_blocks + j / c.block_size] * c.block_size + j % c.block_size
                                       : (int64_t)b * max_len + j;
    };

    // the stored cache (quantised by the CPU cache's own row conversion) and, per sequence,
    // its dequantised f32 keys and values for the reference
    std::vector<uint8_t> kst((size_t)slots * row * esz, 0xA5), vst((size_t)slots * row * esz, 0x5A);
    std::vector<float> ksc((size_t)slots * H, NAN), vsc((size_t)slots * H, NAN);
    std::vector<std::vector<float>> kf(B), vf(B);
    std::vector<float> tmp(D);
    for (int b = 0; b < B; b++) {
        kf[b].resize((size_t)lens[b] * row), vf[b].resize((size_t)lens[b] * row);
        lc_rng_fill_normal(kf[b].data(), kf[b].size(), seed, (*counter)++ << 36, 0.f, 1.f, 0);
        lc_rng_fill_normal(vf[b].data(), vf[b].size(), seed, (*counter)++ << 36, 0.f, 1.f, 0);
        for (int j = 0; j < lens[b]; j++)
            for (int h = 0; h < H; h++) {
                const int64_t s = slot_of(b, j);
                float *kr = &kf[b][((size_t)j * H + h) * D], *vr = &vf[b][((size_t)j * H + h) * D];
                lc_kv_store_row(&kst[((size_t)s * H + h) * D * esz], &ksc[(size_t)s * H + h], c.dtype, kr, D);
                lc_kv_store_row(&vst[((size_t)s * H + h) * D * esz], &vsc[(size_t)s * H + h], c.dtype, vr, D);
                lc_kv_load_row(kr, &kst[((size_t)s * H + h) * D * esz], ksc[(size_t)s * H + h], c.dtype, D);
                lc_kv_load_row(vr, &vst[((size_t)s * H + h) * D * esz], vsc[(size_t)s * H + h], c.dtype, D);
            }
    }
    // queries, rounded to their dtype
    const size_t qn = (size_t)B * NQ * HQ * D;
    std::vector<float> qf(qn);
    lc_rng_fill_normal(qf.data(), qn, seed, (*counter)++ << 36, 0.f, 1.f, 0);
    std::vector<uint16_t> q16(qn);
    lc_convert(q16.data(), c.q_dtype, qf.data(), LC_F32, qn);
    lc_convert(qf.data(), LC_F32, q16.data(), c.q_dtype, qn);

    uint8_t *k_dev = to_device(kst), *v_dev = to_device(vst);
    float *ks_dev = to_device(ksc), *vs_dev = to_device(vsc);
    int32_t *lens_dev = to_device(lens), *table_dev = table.empty() ? NULL : to_device(table);
    uint16_t *q_dev = to_device(q16);
    const size_t out_bytes = qn * lc_dtype_size(c.out_dtype), lse_n = (size_t)B * HQ * NQ;
    void *out_dev;
    float *lse_dev;
    CUDA_OK(cudaMalloc(&out_dev, out_bytes));
    CUDA_OK(cudaMalloc(&lse_dev, lse_n * sizeof(float)));
    CUDA_OK(cudaMemset(out_dev, 0xff, out_bytes));
    CUDA_OK(cudaMemset(lse_dev, 0xff, lse_n * sizeof(float)));

    lc_cuda_decode dd = {};
    dd.cache.layout = c.layout, dd.cache.dtype = c.dtype, dd.cache.heads_kv = H, dd.cache.head_dim = D;
    dd.cache.max_seqs = B, dd.cache.capacity = max_len, dd.cache.block_size = c.block_size, dd.cache.num_blocks = pool;
    dd.k = k_dev, dd.v = v_dev;
    if (c.dtype == LC_INT8) dd.k_scale = ks_dev, dd.v_scale = vs_dev;
    dd.block_table = table_dev;
    dd.batch = B, dd.lens = c.no_lens ? NULL : lens_dev, dd.max_len = max_len, dd.q = q_dev, dd.q_dtype = c.q_dtype, dd.n_q = NQ, dd.heads_q = HQ;
    dd.out = out_dev, dd.out_dtype = c.out_dtype, dd.lse = lse_dev, dd.softcap = c.softcap, dd.mask = decode_case_mask(&c);
    dd.splits = (int)c.split;
    const size_t ws_bytes = lc_cuda_decode_workspace_size(&dd);
    void *ws = NULL;
    CUDA_OK(cudaMalloc(&ws, ws_bytes ? ws_bytes : 16));
    lc_status st = lc_cuda_decode_attention(&dd, ws, ws_bytes, 0);
    CHECK(st == LC_OK, "lc_cuda_decode: %s", lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());

    std::vector<uint8_t> raw(out_bytes);
    std::vector<float> got(qn), lse_got(lse_n);
    CUDA_OK(cudaMemcpy(raw.data(), out_dev, out_bytes, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(lse_got.data(), lse_dev, lse_n * sizeof(float), cudaMemcpyDeviceToHost));
    lc_convert(got.data(), LC_F32, raw.data(), c.out_dtype, qn);

    double max_err = 0, max_ref = 0, lse_err = 0;
    int lost_inf = 0;
    for (int b = 0; b < B; b++) {
        std::vector<float> want((size_t)NQ * HQ * D), lse_want((size_t)HQ * NQ);
        lc_attention r = {};
        r.q = lc_tensor_bshd(&qf[(size_t)b * NQ * HQ * D], LC_F32, 1, NQ, HQ, D);
        r.k = lc_tensor_bshd(kf[b].data(), LC_F32, 1, lens[b], H, D);
        r.v = lc_tensor_bshd(vf[b].data(), LC_F32, 1, lens[b], H, D);
        r.out = lc_tensor_bshd(want.data(), LC_F32, 1, NQ, HQ, D);
        r.lse = lse_want.data();
        r.mask = decode_case_mask(&c);
        r.mask.q_offset = lens[b] - NQ;
        r.softcap = c.softcap;
        CHECK(lc_attention_naive(&r, 0) == LC_OK, "reference: %s", lc_last_error());
        for (size_t i = 0; i < want.size(); i++) {
            double e = fabs((double)got[(size_t)b * NQ * HQ * D + i] - want[i]);
            if (!(e <= max_err)) max_err = e;  // NaN propagates
            max_ref = fmax(max_ref, fabs(want[i]));
        }
        for (size_t i = 0; i < lse_want.size(); i++) {
            const float g = lse_got[(size_t)b * HQ * NQ + i];
            if (isinf(lse_want[i])) {
                lost_inf += !(isinf(g) && g < 0);
                continue;
            }
            double e = fabs((double)g - lse_want[i]);
            if (!(e <= lse_err)) lse_err = e;
        }
    }
    const double rel = max_err / (max_ref > 0 ? max_ref : 1.0);
    const int ok = st == LC_OK && rel <= tol->out_norm && lse_err <= tol->lse_abs && !lost_inf;
    CHECK(ok, "%s: %s %s q=%s out=%s B=%d hkv=%d group=%d n_q=%d d=%d block=%d max_len=%d window=%lld sinks=%lld mask=%d lens=%s softcap=%g splits=%d: rel err %.3g, lse err %.3g, %d rows lost -inf",
          c.name, lc_kv_layout_name(c.layout), lc_dtype_name(c.dtype), lc_dtype_name(c.q_dtype), lc_dtype_name(c.out_dtype), B, H, c.group, NQ, D, c.block_size,
          max_len, (long long)c.window, (long long)c.sinks, c.mask_kind, c.no_lens ? "none" : "yes", (double)c.softcap, (int)c.split, rel, lse_err, lost_inf);
    cudaFree(k_dev), cudaFree(v_dev), cudaFree(ks_dev), cudaFree(vs_dev), cudaFree(lens_dev), cudaFree(q_dev), cudaFree(out_dev), cudaFree(lse_dev), cudaFree(ws);
    if (table_dev) cudaFree(table_dev);
    return ok;
}

// Every refusal names its reason and launches nothing.
static void test_refusals(void) {
    void *buf;
    CUDA_OK(cudaMalloc(&buf, 1 << 20));
    int32_t *lens = (int32_t *)buf;
    lc_cuda_decode d = {};
    d.cache.layout = LC_KV_CONTIGUOUS, d.cache.dtype = LC_BF16, d.cache.heads_kv = 2, d.cache.head_dim = 128, d.cache.max_seqs = 1, d.cache.capacity = 64;
    d.k = (char *)buf + 4096, d.v = (char *)buf + 8192;
    d.batch = 1, d.lens = lens, d.max_len = 64, d.q = (char *)buf + 256, d.q_dtype = LC_BF16, d.n_q = 1, d.heads_q = 8, d.out = (char *)buf + 1024, d.out_dtype = LC_BF16;
    d.mask = lc_mask_causal();
    CHECK(lc_cuda_decode_check(&d) == LC_OK, "good descriptor accepted: %s", lc_last_error());
    struct refusal {
        void (*edit)(lc_cuda_decode *);
        lc_status want;
        const char *says;
    } cases[] = {
        {[](lc_cuda_decode *x) { x->cache.head_dim = 96; }, LC_EUNSUPPORTED, "head_dim"},
        {[](lc_cuda_decode *x) { x->cache.heads_kv = 0; }, LC_EINVAL, "heads_kv"},
        {[](lc_cuda_decode *x) { x->heads_q = 2 * 17; }, LC_EUNSUPPORTED, "query rows"},
        {[](lc_cuda_decode *x) { x->heads_q = 7; }, LC_EINVAL, "heads_q"},
        {[](lc_cuda_decode *x) { x->q = (char *)x->q + 2; }, LC_EUNSUPPORTED, "aligned"},
        {[](lc_cuda_decode *x) { x->q = NULL; }, LC_EINVAL, "NULL"},
        {[](lc_cuda_decode *x) { x->cache.dtype = LC_INT8; }, LC_EINVAL, "k_scale"},
        {[](lc_cuda_decode *x) { x->cache.dtype = LC_F16; }, LC_EUNSUPPORTED, "f16 queries"},
        {[](lc_cuda_decode *x) { x->cache.dtype = LC_FP8; }, LC_EUNSUPPORTED, "cache.dtype"},
        {[](lc_cuda_decode *x) { x->cache.layout = LC_KV_RING, x->cache.window = 16; }, LC_EUNSUPPORTED, "cache.layout"},
        {[](lc_cuda_decode *x) { x->cache.layout = LC_KV_PAGED, x->cache.block_size = 16, x->cache.num_blocks = 4; }, LC_EINVAL, "block_table"},
        {[](lc_cuda_decode *x) { x->cache.layout = LC_KV_PAGED; }, LC_EINVAL, "block_size"},
        {[](lc_cuda_decode *x) { x->cache.capacity = 63; }, LC_EINVAL, "capacity"},
        {[](lc_cuda_decode *x) { x->batch = 2; }, LC_EINVAL, "max_seqs"},
        {[](lc_cuda_decode *x) { x->max_len = 0; }, LC_EINVAL, "max_len"},
        {[](lc_cuda_decode *x) { x->mask.q_offset = 5; }, LC_EINVAL, "q_offset"},
        {[](lc_cuda_decode *x) { x->mask.blocks.bits = (const uint8_t *)"x", x->mask.blocks.block_q = x->mask.blocks.block_k = 64, x->mask.blocks.n_qb = x->mask.blocks.n_kb = 1; },
         LC_EUNSUPPORTED, "mask"},
        {[](lc_cuda_decode *x) { x->mask = lc_mask_sliding_window(8), x->mask.window.dilation = 2; }, LC_EUNSUPPORTED, "dilation"},
        {[](lc_cuda_decode *x) { x->q_dtype = LC_F32; }, LC_EUNSUPPORTED, "q_dtype"},
        {[](lc_cuda_decode *x) { x->out_dtype = LC_F16; }, LC_EUNSUPPORTED, "out_dtype"},
        {[](lc_cuda_decode *x) { x->scale = -1; }, LC_EINVAL, "scale"},
        {[](lc_cuda_decode *x) { x->splits = -1; }, LC_EINVAL, "splits"},
        {[](lc_cuda_decode *x) { x->splits = 65536; }, LC_EINVAL, "splits"},
    };
    for (const refusal &r : cases) {
        lc_cuda_decode x = d;
        r.edit(&x);
        lc_status st = lc_cuda_decode_check(&x);
        CHECK(st == r.want && strstr(lc_last_error(), r.says), "refusal '%s': status %d, said: %s", r.says, (int)st, lc_last_error());
        CHECK(lc_cuda_decode_attention(&x, buf, 1 << 20, 0) == r.want, "refused call '%s' also refused by lc_cuda_decode", r.says);
    }
    CHECK(lc_cuda_decode_check(NULL) == LC_EINVAL, "NULL refused");
    size_t need = lc_cuda_decode_workspace_size(&d);
    CHECK(need > 0 && lc_cuda_decode_attention(&d, buf, need - 1, 0) == LC_EINVAL && strstr(lc_last_error(), "workspace"), "short workspace refused: %s", lc_last_error());
    cudaFree(buf);
}

int main(int argc, char **argv) {
    int quick;
    uint64_t seed;
    if (gpu_test_begin("test_gpu_decode", argc, argv, &quick, &seed)) return 77;
    test_refusals();

    const int level = quick == 2 ? CASE_SMOKE : quick ? CASE_QUICK : CASE_FULL;
    uint64_t counter = 1, shapes = 0;
    const int trials = decode_gpu_trials(level);
    for (int t = 0; t < trials; t++) run(decode_case_random_gpu(t, seed ^ 0x9E3779B97F4A7C15ull, &shapes), seed, &counter);
    // the fixed cases: a contiguous tensor as the cache, long caches, int8 with 4 kv heads per block
    int n;
    decode_case *fixed = decode_cases_select(DECODE_GPU_FIXED, level, NULL, &n);
    CHECK(fixed != NULL, "the case table: out of memory");
    const int n_fixed = fixed ? n : 0;
    for (int i = 0; i < n_fixed; i++) run(fixed[i], seed, &counter);
    free(fixed);
    printf("test_gpu_decode: %d cases, %ld checks, %ld failed\n", trials + n_fixed, checks, failures);
    return failures ? 1 : 0;
}
