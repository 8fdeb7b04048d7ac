// GPU MLA decode (lc_cuda_mla_decode) over contiguous and paged latent caches (bf16, f16)
// against a float64 reference on the latents as the cache stores them and the query rounded
// to the cache's dtype as the kernel rounds it, fresh random inputs
// each run: batches of sequences of different lengths (or all of one, without lens), 1 to
// 128 heads, 1-3 new tokens (causal among themselves), nope 0 / 16 / 128, v_dim 1 / 64 / 128,
// block sizes that do and do not divide the lengths in a shuffled pool with spare blocks,
// a capacity beyond the longest sequence, the absorbed form, forced split counts, sharp and
// flat softmaxes. Outputs are poisoned (NaN) before each run. The reference is MLA's
// absorbed form in float64 (what lc_mla_decode computes on the CPU); on small shapes it is
// itself checked against the definition (k and v up-projected per head, then attention).
// The cases and tolerances are tests/cases/mla_cases.c's; without a GPU it exits 77.
//
//   test_gpu_mla [--quick | --smoke] [--seed S]
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <thread>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "mla_cases.h"

#include "gpu_check.h"

static const int R = 512, P = 64, W = R + P;

template <typename T> static T *to_device(const std::vector<T> &h) {
    T *p;
    CUDA_OK(cudaMalloc(&p, h.size() * sizeof(T) + 16));
    if (!h.empty()) CUDA_OK(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
    return p;
}

static uint64_t draw(uint64_t *s) {  // splitmix64: lengths, the pool's order, the query's sharpness
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Runs f(i) for i < n on the machine's cores.
template <typename F> static void parallel_for(int64_t n, F f) {
    const int t = std::max(1u, std::min(32u, std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (int k = 0; k < t; k++)
        pool.emplace_back([&, k] {
            for (int64_t i = k; i < n; i += t) f(i);
        });
    for (auto &th : pool) th.join();
}

struct problem {
    const mla_case &c;
    int H, NQ, N, DV, absorbed;
    double scale;
    const std::vector<float> &wuk, &wuv, &qn, &qr;  // qn: [B, NQ, H, nope or (absorbed) R]
    const std::vector<std::vector<float>> &lat;     // per sequence [len, W], as stored
    const std::vector<int32_t> &lens;
};

// Row (b, i, h) of the reference in float64, absorbed: q_lat = W_UK^T q_nope, scores over the
// latents, o_lat = sum p c, out = W_UV o_lat (absorbed: o_lat). round_q: [q_lat ; q_rope]
// rounded to the cache's dtype first, as the kernel rounds it (cuda.h); the definition check
// below takes it unrounded.
static void reference_row(const problem &pr, int b, int i, int h, double *out, bool round_q = true) {
    const int H = pr.H, N = pr.N, qd = pr.absorbed ? R : N;
    const int64_t q = ((int64_t)b * pr.NQ + i) * H + h, last = pr.lens[b] - pr.NQ + i;
    std::vector<double> ql(W), ol(R, 0.0), s(last + 1);
    const float *qn = pr.qn.data() + q * qd, *qr = pr.qr.data() + q * P;
    for (int r = 0; r < R; r++) {
        double x = 0;
        if (pr.absorbed) x = qn[r];
        else
            for (int d = 0; d < N; d++) x += (double)pr.wuk[((size_t)h * N + d) * R + r] * qn[d];
        ql[r] = x;
    }
    for (int e = 0; e < P; e++) ql[R + e] = qr[e];
    if (round_q)
        for (int k = 0; k < W; k++) {
            float x = (float)ql[k];
            uint16_t t;
            lc_convert(&t, pr.c.dtype, &x, LC_F32, 1);
            lc_convert(&x, LC_F32, &t, pr.c.dtype, 1);
            ql[k] = x;
        }
    const float *lat = pr.lat[b].data();
    double mx = -INFINITY, l = 0;
    for (int64_t j = 0; j <= last; j++) {
        double dot = 0;
        for (int k = 0; k < W; k++) dot += ql[k] * lat[j * W + k];
        s[j] = dot * pr.scale, mx = fmax(mx, s[j]);
    }
    for (int64_t j = 0; j <= last; j++) {
        const double p = exp(s[j] - mx);
        l += p;
        for (int r = 0; r < R; r++) ol[r] += p * lat[j * W + r];
    }
    if (pr.absorbed) {
        for (int r = 0; r < R; r++) out[r] = ol[r] / l;
        return;
    }
    for (int e = 0; e < pr.DV; e++) {
        double acc = 0;
        for (int r = 0; r < R; r++) acc += (double)pr.wuv[((size_t)h * pr.DV + e) * R + r] * ol[r];
        out[e] = acc / l;
    }
}

// The definition, for small shapes: per head, k_j = [W_UK c_j ; k^R_j], v_j = W_UV c_j, then
// softmax attention; the largest difference from reference_row relative to max |out|.
static double definition_vs_reference(const problem &pr, int b) {
    const int H = pr.H, N = pr.N, DV = pr.DV, len = pr.lens[b];
    const float *lat = pr.lat[b].data();
    double worst = 0, top = 0;
    std::vector<double> k((size_t)len * (N + P)), v((size_t)len * DV), ref(DV), s(len);
    for (int h = 0; h < H; h++) {
        for (int j = 0; j < len; j++) {
            for (int d = 0; d < N; d++) {
                double x = 0;
                for (int r = 0; r < R; r++) x += (double)pr.wuk[((size_t)h * N + d) * R + r] * lat[(size_t)j * W + r];
                k[(size_t)j * (N + P) + d] = x;
            }
            for (int e = 0; e < P; e++) k[(size_t)j * (N + P) + N + e] = lat[(size_t)j * W + R + e];
            for (int e = 0; e < DV; e++) {
                double x = 0;
                for (int r = 0; r < R; r++) x += (double)pr.wuv[((size_t)h * DV + e) * R + r] * lat[(size_t)j * W + r];
                v[(size_t)j * DV + e] = x;
            }
        }
        for (int i = 0; i < pr.NQ; i++) {
            const int64_t q = ((int64_t)b * pr.NQ + i) * H + h;
            const int last = len - pr.NQ + i;
            double mx = -INFINITY, l = 0;
            for (int j = 0; j <= last; j++) {
                double dot = 0;
                for (int d = 0; d < N; d++) dot += (double)pr.qn[q * N + d] * k[(size_t)j * (N + P) + d];
                for (int e = 0; e < P; e++) dot += (double)pr.qr[q * P + e] * k[(size_t)j * (N + P) + N + e];
                s[j] = dot * pr.scale, mx = fmax(mx, s[j]);
            }
            for (int j = 0; j <= last; j++) s[j] = exp(s[j] - mx), l += s[j];
            reference_row(pr, b, i, h, ref.data(), false);
            for (int e = 0; e < DV; e++) {
                double o = 0;
                for (int j = 0; j <= last; j++) o += s[j] * v[(size_t)j * DV + e];
                o /= l;
                worst = fmax(worst, fabs(o - ref[e])), top = fmax(top, fabs(o));
            }
        }
    }
    return worst / (top > 0 ? top : 1);
}

static double worst_rel[2];  // the largest error seen relative to its tolerance's scale: bf16, f16

static int run(const mla_case &c, uint64_t seed, uint64_t *counter) {
    const int B = c.batch, H = c.heads, NQ = c.n_q, N = c.nope, DV = c.v_dim, max_len = (int)c.len;
    const int qd = c.absorbed ? R : N, od = c.absorbed ? R : DV;
    const size_t esz = lc_dtype_size(c.dtype);
    uint64_t rs = seed ^ (*counter * 7919);
    std::vector<int32_t> lens(B);
    for (int b = 0; b < B; b++) lens[b] = b == 0 || c.no_lens ? max_len : NQ + (int)(draw(&rs) % (uint64_t)(max_len - NQ + 1));
    const int64_t capacity = max_len + (int64_t)(draw(&rs) % 4);  // a sequence's slots may pass its length

    // slots: contiguous b * capacity + j; paged: blocks of a shuffled pool with spare blocks
    std::vector<int32_t> table;
    int max_blocks = 0, pool = 0;
    int64_t slots = (int64_t)B * capacity;
    if (c.layout == LC_KV_PAGED) {
        max_blocks = (int)((capacity + c.block_size - 1) / c.block_size);
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
        return c.layout == LC_KV_PAGED ? (int64_t)table[(size_t)b * max_blocks + j / c.block_size] * c.block_size + j % c.block_size : (int64_t)b * capacity + j;
    };

    // latents as the cache stores them (rank values then rope), and their f32 values for the reference
    std::vector<uint8_t> store((size_t)slots * W * esz, 0xA5);
    std::vector<std::vector<float>> lat(B);
    for (int b = 0; b < B; b++) {
        lat[b].resize((size_t)lens[b] * W);
        lc_rng_fill_normal(lat[b].data(), lat[b].size(), seed, (*counter)++ << 36, 0.f, 1.f, 0);
        for (int j = 0; j < lens[b]; j++) {
            uint8_t *row = &store[(size_t)slot_of(b, j) * W * esz];
            lc_convert(row, c.dtype, &lat[b][(size_t)j * W], LC_F32, W);
            lc_convert(&lat[b][(size_t)j * W], LC_F32, row, c.dtype, W);
        }
    }
    // weights and queries; a third of the cases with sharp softmaxes (queries 4x larger)
    const float sharp = draw(&rs) % 3 == 0 ? 4.f : 1.f;
    std::vector<float> wuk((size_t)H * N * R + 1), wuv((size_t)H * DV * R), qn((size_t)B * NQ * H * qd + 1), qr((size_t)B * NQ * H * P);
    lc_rng_fill_normal(wuk.data(), wuk.size(), seed, (*counter)++ << 36, 0.f, 1.f / sqrtf((float)R), 0);
    lc_rng_fill_normal(wuv.data(), wuv.size(), seed, (*counter)++ << 36, 0.f, 1.f / sqrtf((float)R), 0);
    lc_rng_fill_normal(qn.data(), qn.size(), seed, (*counter)++ << 36, 0.f, sharp * (c.absorbed ? 0.35f : 1.f), 0);
    lc_rng_fill_normal(qr.data(), qr.size(), seed, (*counter)++ << 36, 0.f, sharp, 0);

    uint8_t *lat_dev = to_device(store);
    float *wuk_dev = to_device(wuk), *wuv_dev = to_device(wuv), *qn_dev = to_device(qn), *qr_dev = to_device(qr);
    int32_t *lens_dev = to_device(lens), *table_dev = table.empty() ? NULL : to_device(table);
    const size_t on = (size_t)B * NQ * H * od;
    float *out_dev;
    CUDA_OK(cudaMalloc(&out_dev, on * sizeof(float)));
    CUDA_OK(cudaMemset(out_dev, 0xff, on * sizeof(float)));  // NaN: every output must be written

    lc_mla m = {};
    m.heads = H, m.rank = R, m.nope = N, m.rope = P, m.v_dim = DV, m.dtype = c.dtype;
    m.w_uk = c.absorbed ? NULL : wuk_dev, m.w_uv = c.absorbed ? NULL : wuv_dev;
    lc_cuda_mla d = {};
    d.mla = &m, d.layout = c.layout, d.latent = lat_dev, d.capacity = capacity;
    d.block_table = table_dev, d.block_size = c.block_size, d.num_blocks = pool;
    d.batch = B, d.lens = c.no_lens ? NULL : lens_dev, d.max_len = max_len;
    d.q_nope = N > 0 || c.absorbed ? qn_dev : NULL, d.q_rope = qr_dev, d.n_q = NQ, d.out = out_dev;
    d.absorbed = c.absorbed, d.splits = c.splits;
    const size_t ws_bytes = lc_cuda_mla_decode_workspace_size(&d);
    void *ws = NULL;
    CUDA_OK(cudaMalloc(&ws, ws_bytes ? ws_bytes : 16));
    lc_status st = lc_cuda_mla_decode(&d, ws, ws_bytes, 0);
    CHECK(st == LC_OK && ws_bytes > 0, "lc_cuda_mla_decode: %s", lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> got(on);
    CUDA_OK(cudaMemcpy(got.data(), out_dev, on * sizeof(float), cudaMemcpyDeviceToHost));

    problem pr = {c, H, NQ, N, DV, c.absorbed, 1.0 / sqrt((double)(N + P)), wuk, wuv, qn, qr, lat, lens};
    std::vector<double> want(on);
    parallel_for((int64_t)B * NQ * H, [&](int64_t q) {
        const int h = (int)(q % H), i = (int)(q / H % NQ), b = (int)(q / H / NQ);
        reference_row(pr, b, i, h, &want[(size_t)q * od]);
    });
    double max_err = 0, max_ref = 0;
    for (size_t k = 0; k < on; k++) {
        const double e = fabs((double)got[k] - want[k]);
        if (!(e <= max_err)) max_err = e;  // NaN propagates
        max_ref = fmax(max_ref, fabs(want[k]));
    }
    const double rel = max_err / (max_ref > 0 ? max_ref : 1.0), tol = mla_tolerance_of(&c)->out_norm;
    if (!(rel <= worst_rel[c.dtype == LC_F16])) worst_rel[c.dtype == LC_F16] = rel;  // NaN stays
    const int ok = st == LC_OK && rel <= tol;
    CHECK(ok, "%s: %s %s B=%d heads=%d n_q=%d nope=%d v=%d block=%d max_len=%d capacity=%lld lens=%s absorbed=%d splits=%d sharp=%g: rel err %.3g (tolerance %.3g)",
          c.name, lc_kv_layout_name(c.layout), lc_dtype_name(c.dtype), B, H, NQ, N, DV, c.block_size, max_len, (long long)capacity, c.no_lens ? "none" : "yes",
          c.absorbed, c.splits, (double)sharp, rel, tol);
    // the reference itself against the definition, where that is cheap
    if (!c.absorbed && H <= 4 && max_len <= 200) {
        const double e = definition_vs_reference(pr, 0);
        CHECK(e <= 1e-10, "%s: the absorbed float64 reference is %.3g from the definition", c.name, e);
    }
    cudaFree(lat_dev), cudaFree(wuk_dev), cudaFree(wuv_dev), cudaFree(qn_dev), cudaFree(qr_dev), cudaFree(lens_dev), cudaFree(out_dev), cudaFree(ws);
    if (table_dev) cudaFree(table_dev);
    return ok;
}

// Every refusal names its reason and launches nothing.
static void test_refusals(void) {
    void *buf;
    CUDA_OK(cudaMalloc(&buf, 4 << 20));
    char *at = static_cast<char *>(buf);
    lc_mla m = {};
    m.heads = 4, m.rank = R, m.nope = 16, m.rope = P, m.v_dim = 8, m.dtype = LC_BF16;
    m.w_uk = (const float *)(at + (1 << 20)), m.w_uv = (const float *)(at + (2 << 20));
    lc_cuda_mla d = {};
    d.mla = &m, d.layout = LC_KV_CONTIGUOUS, d.latent = at + (3 << 20), d.capacity = 64, d.batch = 1, d.max_len = 64;
    d.q_nope = (const float *)at, d.q_rope = (const float *)(at + 4096), d.n_q = 1, d.out = (float *)(at + 8192);
    CHECK(lc_cuda_mla_decode_check(&d) == LC_OK, "good descriptor accepted: %s", lc_last_error());
    struct refusal {
        void (*edit)(lc_cuda_mla *, lc_mla *);
        lc_status want;
        const char *says;
    } cases[] = {
        {[](lc_cuda_mla *, lc_mla *x) { x->rank = 256; }, LC_EUNSUPPORTED, "rank"},
        {[](lc_cuda_mla *, lc_mla *x) { x->rope = 32; }, LC_EUNSUPPORTED, "rope"},
        {[](lc_cuda_mla *, lc_mla *x) { x->dtype = LC_F32; }, LC_EUNSUPPORTED, "mla.dtype"},
        {[](lc_cuda_mla *, lc_mla *x) { x->heads = 0; }, LC_EINVAL, "heads"},
        {[](lc_cuda_mla *, lc_mla *x) { x->w_uv = NULL; }, LC_EINVAL, "w_uv"},
        {[](lc_cuda_mla *, lc_mla *x) { x->scale = -1; }, LC_EINVAL, "scale"},
        {[](lc_cuda_mla *y, lc_mla *) { y->mla = NULL; }, LC_EINVAL, "mla is NULL"},
        {[](lc_cuda_mla *y, lc_mla *) { y->layout = LC_KV_RING; }, LC_EUNSUPPORTED, "layout"},
        {[](lc_cuda_mla *y, lc_mla *) { y->layout = LC_KV_PAGED, y->block_size = 16, y->num_blocks = 4; }, LC_EINVAL, "block_table"},
        {[](lc_cuda_mla *y, lc_mla *) { y->layout = LC_KV_PAGED; }, LC_EINVAL, "block_size"},
        {[](lc_cuda_mla *y, lc_mla *) { y->capacity = 63; }, LC_EINVAL, "capacity"},
        {[](lc_cuda_mla *y, lc_mla *) { y->batch = 0; }, LC_EINVAL, "batch"},
        {[](lc_cuda_mla *y, lc_mla *) { y->n_q = 0; }, LC_EINVAL, "n_q"},
        {[](lc_cuda_mla *y, lc_mla *) { y->max_len = 0; }, LC_EINVAL, "max_len"},
        {[](lc_cuda_mla *y, lc_mla *) { y->q_rope = NULL; }, LC_EINVAL, "NULL"},
        {[](lc_cuda_mla *y, lc_mla *) { y->q_nope = NULL; }, LC_EINVAL, "NULL"},
        {[](lc_cuda_mla *y, lc_mla *) { y->latent = (const char *)y->latent + 2; }, LC_EUNSUPPORTED, "aligned"},
        {[](lc_cuda_mla *y, lc_mla *) { y->out = (float *)y->q_rope + 4; }, LC_EINVAL, "overlaps"},
        {[](lc_cuda_mla *y, lc_mla *) { y->splits = -1; }, LC_EINVAL, "splits"},
        {[](lc_cuda_mla *y, lc_mla *) { y->splits = 65536; }, LC_EINVAL, "splits"},
    };
    for (const refusal &r : cases) {
        lc_cuda_mla x = d;
        lc_mla mx = m;
        x.mla = &mx;
        r.edit(&x, &mx);
        lc_status st = lc_cuda_mla_decode_check(&x);
        CHECK(st == r.want && strstr(lc_last_error(), r.says), "refusal '%s': status %d, said: %s", r.says, (int)st, lc_last_error());
        CHECK(lc_cuda_mla_decode(&x, buf, 1 << 20, 0) == r.want, "refused call '%s' also refused by lc_cuda_mla_decode", r.says);
        CHECK(lc_cuda_mla_decode_workspace_size(&x) == 0, "refused call '%s': no workspace size", r.says);
    }
    CHECK(lc_cuda_mla_decode_check(NULL) == LC_EINVAL, "NULL refused");
    // absorbed: the weights are not read, so they may be NULL
    lc_mla ma = m;
    ma.w_uk = ma.w_uv = NULL;
    lc_cuda_mla da = d;
    da.mla = &ma, da.absorbed = 1;
    CHECK(lc_cuda_mla_decode_check(&da) == LC_OK, "absorbed without weights accepted: %s", lc_last_error());
    size_t need = lc_cuda_mla_decode_workspace_size(&d);
    CHECK(need > 0 && lc_cuda_mla_decode(&d, buf, need - 1, 0) == LC_EINVAL && strstr(lc_last_error(), "workspace"), "short workspace refused: %s", lc_last_error());
    CHECK(lc_cuda_mla_decode(&d, NULL, need, 0) == LC_EINVAL && strstr(lc_last_error(), "workspace"), "NULL workspace refused: %s", lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    cudaFree(buf);
}

int main(int argc, char **argv) {
    int quick;
    uint64_t seed;
    if (gpu_test_begin("test_gpu_mla", argc, argv, &quick, &seed)) return 77;
    test_refusals();

    const int level = quick == 2 ? CASE_SMOKE : quick ? CASE_QUICK : CASE_FULL;
    uint64_t counter = 1, shapes = 0;
    const int trials = mla_gpu_trials(level);
    for (int t = 0; t < trials; t++) run(mla_case_random_gpu(t, level, seed ^ 0x9E3779B97F4A7C15ull, &shapes), seed, &counter);
    int n;
    mla_case *fixed = mla_cases_select(MLA_GPU_FIXED, level, &n);
    CHECK(fixed != NULL, "the case table: out of memory");
    const int n_fixed = fixed ? n : 0;
    for (int i = 0; i < n_fixed; i++) run(fixed[i], seed, &counter);
    free(fixed);
    printf("test_gpu_mla: worst error relative to max |out|: bf16 %.2e, f16 %.2e\n", worst_rel[0], worst_rel[1]);
    printf("test_gpu_mla: %d cases, %ld checks, %ld failed\n", trials + n_fixed, checks, failures);
    return failures ? 1 : 0;
}
