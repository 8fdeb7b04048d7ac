// The GPU state-space kernels against the CPU's float64 references on fresh random inputs:
// Mamba's selective scan (lc_cuda_selective_scan vs lc_selective_scan_naive), Mamba-2's SSD
// (lc_cuda_ssd_chunked and lc_cuda_ssd_step vs lc_ssd_naive) and the causal conv1d
// (lc_cuda_causal_conv1d vs a float64 convolution here). Each sequence starts from a random
// state and runs as up to four calls (two prefills, a one-token step, the rest as steps:
// tests/cases/ssm_cases.c), the state staying on the device between them, so outputs and the
// final state check the state carried across calls. Odd lengths, chunks that do not divide
// them, widths that cut the 64-wide tiles at odd places, absent D / dt_bias / z, the dt clamp,
// extreme dt, long sequences; outputs are poisoned (NaN) before every call; NaN propagation;
// refusals. Without a GPU it exits 77 (CTest: skipped).
//
//   test_gpu_ssm [--quick | --smoke] [--seed S]
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "gpu_check.h"
#include "ssm_cases.h"

typedef std::vector<float> fvec;

static fvec normal(size_t n, uint64_t seed, uint64_t *counter, float mean, float sd) {
    fvec v(n ? n : 1);
    lc_rng_fill_normal(v.data(), n, seed, (*counter)++ << 36, mean, sd, 0);
    return v;
}

struct dbuf {  // a device copy of a host array (NULL for an empty one)
    float *p = nullptr;
    dbuf() {}
    explicit dbuf(const fvec &h) { put(h); }
    void put(const fvec &h) {
        if (p) cudaFree(p);
        CUDA_OK(cudaMalloc(&p, h.size() * sizeof(float) + 16));
        CUDA_OK(cudaMemcpy(p, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    void alloc_poisoned(size_t n) {
        if (p) cudaFree(p);
        CUDA_OK(cudaMalloc(&p, n * sizeof(float) + 16));
        CUDA_OK(cudaMemset(p, 0xff, n * sizeof(float)));
    }
    fvec get(size_t n) const {
        fvec h(n);
        CUDA_OK(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost));
        return h;
    }
    ~dbuf() {
        if (p) cudaFree(p);
    }
    dbuf(const dbuf &) = delete;
    dbuf &operator=(const dbuf &) = delete;
};

// Rows [t0, t1) of each of `batch` sequences of an [batch, n, row] array, as [batch, t1 - t0, row].
static fvec slice(const fvec &a, int64_t batch, int64_t n, int64_t row, int64_t t0, int64_t t1) {
    fvec s((size_t)(batch * (t1 - t0) * row));
    for (int64_t b = 0; b < batch; b++) memcpy(&s[(size_t)(b * (t1 - t0) * row)], &a[(size_t)((b * n + t0) * row)], sizeof(float) * (size_t)((t1 - t0) * row));
    return s;
}
static void unslice(fvec &a, const fvec &s, int64_t batch, int64_t n, int64_t row, int64_t t0, int64_t t1) {
    for (int64_t b = 0; b < batch; b++) memcpy(&a[(size_t)((b * n + t0) * row)], &s[(size_t)(b * (t1 - t0) * row)], sizeof(float) * (size_t)((t1 - t0) * row));
}

// max |got - want| / (tol (rms(want) + |want|)): <= 1 passes; NaN (an unwritten element) fails.
static double scaled_err(const fvec &got, const fvec &want, double tol) {
    double ss = 0;
    for (float w : want) ss += (double)w * w;
    const double rms = want.empty() ? 0 : sqrt(ss / (double)want.size());
    double worst = 0;
    for (size_t i = 0; i < want.size(); i++) {
        const double e = fabs((double)got[i] - want[i]) / (tol * (rms + fabs((double)want[i])) + 1e-30);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

// The calls of a case: [t0, t1) spans, and whether each is a step (SSD: lc_cuda_ssd_step).
struct span {
    int64_t t0, t1;
    int step;
};
static std::vector<span> spans_of(const ssm_case &c) {
    std::vector<span> s;
    s.push_back({0, c.split1, 0});
    if (c.split2 > c.split1) s.push_back({c.split1, c.split2, 0});
    if (c.n > c.split2) s.push_back({c.split2, c.split2 + 1, 1});
    if (c.n > c.split2 + 1) s.push_back({c.split2 + 1, c.n, 1});
    return s;
}

static int report(const ssm_case &c, const char *what, double ey, double eh) {
    const int ok = ey <= 1 && eh <= 1;
    CHECK(ok, "%s %s: b=%lld n=%lld E=%lld H=%lld P=%lld G=%lld N=%lld chunk=%lld K=%lld pad=%lld bias=%d D=%d z=%d clamp=%d dt~%g split %lld/%lld: scaled error y %.3g, state %.3g",
          c.name, what, (long long)c.batch, (long long)c.n, (long long)c.channels, (long long)c.heads, (long long)c.head_dim, (long long)c.bc_groups,
          (long long)c.state, (long long)c.chunk, (long long)c.kernel, (long long)c.stride_pad, c.bias, c.D, c.z, c.clamp, (double)c.dt_mean,
          (long long)c.split1, (long long)c.split2, ey, eh);
    return ok;
}

// ---- the selective scan ---------------------------------------------------------------------

static void run_scan(const ssm_case &c, uint64_t seed, uint64_t *k) {
    const int64_t B = c.batch, n = c.n, E = c.channels, N = c.state;
    fvec x = normal(B * n * E, seed, k, 0, 1), dt = normal(B * n * E, seed, k, c.dt_mean, 1), bias = normal(E, seed, k, 0, 0.5f);
    fvec A = normal(E * N, seed, k, 0, 1), Bm = normal(B * n * N, seed, k, 0, 1), Cm = normal(B * n * N, seed, k, 0, 1);
    fvec D = normal(E, seed, k, 0, 1), z = normal(B * n * E, seed, k, 0, 1), h0 = normal(B * E * N, seed, k, 0, 1);
    for (float &a : A) a = -expf(a);
    fvec y_ref(B * n * E), h_ref = h0;
    lc_selective_scan r = {B, n, E, N, x.data(), dt.data(), c.bias ? bias.data() : NULL, A.data(), Bm.data(), Cm.data(), c.D ? D.data() : NULL,
                           c.z ? z.data() : NULL, y_ref.data(), h_ref.data(), B * E * N, 0, LC_ISA_AUTO};
    CHECK(lc_selective_scan_naive(&r) == LC_OK, "scan reference: %s", lc_last_error());

    dbuf dbias(bias), dA(A), dD(D), dh(h0);
    fvec y(B * n * E);
    for (const span &s : spans_of(c)) {
        const int64_t m = s.t1 - s.t0;
        dbuf dx(slice(x, B, n, E, s.t0, s.t1)), ddt(slice(dt, B, n, E, s.t0, s.t1)), dB(slice(Bm, B, n, N, s.t0, s.t1)), dC(slice(Cm, B, n, N, s.t0, s.t1));
        dbuf dz(slice(z, B, n, E, s.t0, s.t1)), dy;
        dy.alloc_poisoned((size_t)(B * m * E));
        lc_selective_scan g = {B, m, E, N, dx.p, ddt.p, c.bias ? dbias.p : NULL, dA.p, dB.p, dC.p, c.D ? dD.p : NULL, c.z ? dz.p : NULL, dy.p, dh.p, B * E * N, 0, LC_ISA_AUTO};
        const size_t ws_bytes = lc_cuda_selective_scan_workspace_size(&g);
        void *ws = NULL;
        if (ws_bytes) CUDA_OK(cudaMalloc(&ws, ws_bytes));
        lc_status st = lc_cuda_selective_scan(&g, ws, ws_bytes, 0);
        CHECK(st == LC_OK, "lc_cuda_selective_scan: %s", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        if (ws) cudaFree(ws);
        unslice(y, dy.get((size_t)(B * m * E)), B, n, E, s.t0, s.t1);
    }
    report(c, "scan", scaled_err(y, y_ref, c.tol), scaled_err(dh.get((size_t)(B * E * N)), h_ref, c.tol));
}

// ---- SSD ----------------------------------------------------------------------------------

static void run_ssd(const ssm_case &c, uint64_t seed, uint64_t *k) {
    const int64_t B = c.batch, n = c.n, H = c.heads, P = c.head_dim, G = c.bc_groups, N = c.state;
    fvec x = normal(B * n * H * P, seed, k, 0, 1), dt = normal(B * n * H, seed, k, c.dt_mean, 1), bias = normal(H, seed, k, 0, 0.5f);
    fvec A = normal(H, seed, k, 0, 1), Bm = normal(B * n * G * N, seed, k, 0, 1), Cm = normal(B * n * G * N, seed, k, 0, 1);
    fvec D = normal(H, seed, k, 0, 1), h0 = normal(B * H * P * N, seed, k, 0, 1);
    for (float &a : A) a = -expf(a);
    const float lo = c.clamp ? 0.01f : 0.0f, hi = c.clamp ? 0.5f : 0.0f;
    fvec y_ref(B * n * H * P), h_ref = h0;
    lc_ssd r = {B, n, H, P, G, N, x.data(), dt.data(), c.bias ? bias.data() : NULL, lo, hi, A.data(), Bm.data(), Cm.data(), c.D ? D.data() : NULL,
                y_ref.data(), h_ref.data(), B * H * P * N, c.chunk, 0};
    CHECK(lc_ssd_naive(&r) == LC_OK, "ssd reference: %s", lc_last_error());

    dbuf dbias(bias), dA(A), dD(D), dh(h0);
    fvec y(B * n * H * P);
    int stepped = 0;
    for (const span &s : spans_of(c)) {
        const int64_t m = s.t1 - s.t0;
        dbuf dx(slice(x, B, n, H * P, s.t0, s.t1)), ddt(slice(dt, B, n, H, s.t0, s.t1)), dB(slice(Bm, B, n, G * N, s.t0, s.t1)), dC(slice(Cm, B, n, G * N, s.t0, s.t1));
        dbuf dy;
        dy.alloc_poisoned((size_t)(B * m * H * P));
        lc_ssd g = {B, m, H, P, G, N, dx.p, ddt.p, c.bias ? dbias.p : NULL, lo, hi, dA.p, dB.p, dC.p, c.D ? dD.p : NULL, dy.p, dh.p, B * H * P * N, c.chunk, 0};
        lc_status st;
        if (s.step) {
            st = lc_cuda_ssd_step(&g, 0), stepped = 1;
        } else {
            const size_t ws_bytes = lc_cuda_ssd_workspace_size(&g);
            void *ws = NULL;
            CUDA_OK(cudaMalloc(&ws, ws_bytes ? ws_bytes : 16));
            st = lc_cuda_ssd_chunked(&g, ws, ws_bytes, 0);
            CUDA_OK(cudaDeviceSynchronize());
            cudaFree(ws);
        }
        CHECK(st == LC_OK, "lc_cuda_ssd_%s: %s", s.step ? "step" : "chunked", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        unslice(y, dy.get((size_t)(B * m * H * P)), B, n, H * P, s.t0, s.t1);
    }
    report(c, stepped ? "ssd chunked + step" : "ssd chunked", scaled_err(y, y_ref, c.tol), scaled_err(dh.get((size_t)(B * H * P * N)), h_ref, c.tol));

    // the whole sequence as steps (decoding from the start state), on small cases
    if (n * H * P <= 40000) {
        dbuf dx(x), ddt(dt), dB(Bm), dC(Cm), dh2(h0), dy;
        dy.alloc_poisoned((size_t)(B * n * H * P));
        lc_ssd g = {B, n, H, P, G, N, dx.p, ddt.p, c.bias ? dbias.p : NULL, lo, hi, dA.p, dB.p, dC.p, c.D ? dD.p : NULL, dy.p, dh2.p, B * H * P * N, c.chunk, 0};
        CHECK(lc_cuda_ssd_step(&g, 0) == LC_OK, "lc_cuda_ssd_step: %s", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        report(c, "ssd step", scaled_err(dy.get((size_t)(B * n * H * P)), y_ref, c.tol), scaled_err(dh2.get((size_t)(B * H * P * N)), h_ref, c.tol));
    }
}

// ---- conv1d --------------------------------------------------------------------------------

static void run_conv(const ssm_case &c, uint64_t seed, uint64_t *k) {
    const int64_t B = c.batch, n = c.n, C = c.channels, K = c.kernel, S = K - 1, XS = C + c.stride_pad, YS = C + c.stride_pad;
    fvec x = normal(B * n * XS, seed, k, 0, 1), w = normal(C * K, seed, k, 0, 0.5f), bias = normal(C, seed, k, 0, 0.5f), s0 = normal(B * C * S, seed, k, 0, 1);
    // float64 reference: inputs before t = 0 from the state
    fvec y_ref(B * n * C), s_ref(B * C * S);
    for (int64_t b = 0; b < B; b++)
        for (int64_t ch = 0; ch < C; ch++) {
            auto in = [&](int64_t t) -> double { return t >= 0 ? x[(size_t)((b * n + t) * XS + ch)] : s0[(size_t)((b * C + ch) * S + S + t)]; };
            for (int64_t t = 0; t < n; t++) {
                double acc = c.bias ? bias[(size_t)ch] : 0.0;
                for (int64_t j = 0; j < K; j++) acc += (double)w[(size_t)(ch * K + j)] * in(t - S + j);
                y_ref[(size_t)((b * n + t) * C + ch)] = (float)(acc / (1 + exp(-acc)));
            }
            for (int64_t j = 0; j < S; j++) s_ref[(size_t)((b * C + ch) * S + j)] = (float)in(n - S + j);
        }
    dbuf dw(w), dbias(bias), ds(s0);
    fvec y(B * n * C);
    int pad_kept = 1;
    for (const span &s : spans_of(c)) {
        const int64_t m = s.t1 - s.t0;
        dbuf dx(slice(x, B, n, XS, s.t0, s.t1)), dy;
        dy.alloc_poisoned((size_t)(B * m * YS));
        lc_causal_conv1d g = {B, m, C, K, dx.p, XS, dw.p, c.bias ? dbias.p : NULL, dy.p, YS, S ? ds.p : NULL, B * C * S};
        CHECK(lc_cuda_causal_conv1d(&g, 0) == LC_OK, "lc_cuda_causal_conv1d: %s", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        fvec got = dy.get((size_t)(B * m * YS));
        for (int64_t r = 0; r < B * m; r++)
            for (int64_t ch = 0; ch < YS; ch++) {
                const float v = got[(size_t)(r * YS + ch)];
                if (ch < C) y[(size_t)((r / m * n + s.t0 + r % m) * C + ch)] = v;
                else pad_kept &= isnan(v);  // past the channels: never written
            }
    }
    CHECK(pad_kept, "%s conv: a column past the channels was written", c.name);
    report(c, "conv1d", scaled_err(y, y_ref, c.tol), S ? scaled_err(ds.get((size_t)(B * C * S)), s_ref, 1e-7) : 0);
}

// ---- NaN propagation: a NaN input reaches the outputs that depend on it and no other ----------

static void test_nan(uint64_t seed, uint64_t *k) {
    {  // SSD: x of token 100, head 1, channel 3 -> y of that (head, channel) from token 100 on
        const int64_t n = 200, H = 2, P = 8, N = 16;
        fvec x = normal(n * H * P, seed, k, 0, 1), dt = normal(n * H, seed, k, -1, 1), A = normal(H, seed, k, 0, 1), Bm = normal(n * N, seed, k, 0, 1), Cm = normal(n * N, seed, k, 0, 1);
        fvec h0(H * P * N, 0.0f);
        for (float &a : A) a = -expf(a);
        x[(size_t)((100 * H + 1) * P + 3)] = NAN;
        dbuf dx(x), ddt(dt), dA(A), dB(Bm), dC(Cm), dh(h0), dy;
        dy.alloc_poisoned((size_t)(n * H * P));
        lc_ssd g = {1, n, H, P, 1, N, dx.p, ddt.p, NULL, 0, 0, dA.p, dB.p, dC.p, NULL, dy.p, dh.p, H * P * N, 64, 0};
        const size_t ws_bytes = lc_cuda_ssd_workspace_size(&g);
        void *ws;
        CUDA_OK(cudaMalloc(&ws, ws_bytes));
        CHECK(lc_cuda_ssd_chunked(&g, ws, ws_bytes, 0) == LC_OK, "nan ssd: %s", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        cudaFree(ws);
        fvec y = dy.get((size_t)(n * H * P));
        int wrong = 0;
        for (int64_t t = 0; t < n; t++)
            for (int64_t i = 0; i < H * P; i++) wrong += (t >= 100 && i == P + 3) == !!isfinite(y[(size_t)(t * H * P + i)]);
        CHECK(wrong == 0, "ssd: a NaN in x reaches %d outputs it should not (or misses one that depends on it)", wrong);
    }
    {  // scan: x of token 70, channel 2 -> y of channel 2 from token 70 on
        const int64_t n = 150, E = 5, N = 4;
        fvec x = normal(n * E, seed, k, 0, 1), dt = normal(n * E, seed, k, -1, 1), A = normal(E * N, seed, k, 0, 1), Bm = normal(n * N, seed, k, 0, 1), Cm = normal(n * N, seed, k, 0, 1);
        fvec h0(E * N, 0.0f);
        for (float &a : A) a = -expf(a);
        x[(size_t)(70 * E + 2)] = NAN;
        dbuf dx(x), ddt(dt), dA(A), dB(Bm), dC(Cm), dh(h0), dy;
        dy.alloc_poisoned((size_t)(n * E));
        lc_selective_scan g = {1, n, E, N, dx.p, ddt.p, NULL, dA.p, dB.p, dC.p, NULL, NULL, dy.p, dh.p, E * N, 0, LC_ISA_AUTO};
        const size_t ws_bytes = lc_cuda_selective_scan_workspace_size(&g);
        void *ws = NULL;
        if (ws_bytes) CUDA_OK(cudaMalloc(&ws, ws_bytes));
        CHECK(lc_cuda_selective_scan(&g, ws, ws_bytes, 0) == LC_OK, "nan scan: %s", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        if (ws) cudaFree(ws);
        fvec y = dy.get((size_t)(n * E));
        int wrong = 0;
        for (int64_t t = 0; t < n; t++)
            for (int64_t d = 0; d < E; d++) wrong += (t >= 70 && d == 2) == !!isfinite(y[(size_t)(t * E + d)]);
        CHECK(wrong == 0, "scan: a NaN in x reaches %d outputs it should not (or misses one that depends on it)", wrong);
    }
}

// ---- refusals: each names its reason and launches nothing -------------------------------------

static void expect(lc_status got, lc_status want, const char *word, const char *what) {
    CHECK(got == want && strstr(lc_last_error(), word), "%s: status %d (want %d), said: %s", what, (int)got, (int)want, lc_last_error());
}

static void test_refusals(void) {
    const size_t M = 1 << 20;  // floats between the arrays
    float *buf;
    CUDA_OK(cudaMalloc(&buf, 8 * M * sizeof(float)));
    float *x = buf, *dt = buf + M, *A = buf + 2 * M, *Bm = buf + 3 * M, *Cm = buf + 4 * M, *y = buf + 5 * M, *h = buf + 6 * M, *ws = buf + 7 * M;
    lc_ssd s = {1, 100, 2, 16, 1, 16, x, dt, NULL, 0, 0, A, Bm, Cm, NULL, y, h, 2 * 16 * 16, 0, 0};
    CHECK(lc_cuda_ssd_check(&s) == LC_OK, "good ssd accepted: %s", lc_last_error());
    lc_ssd b = s;
    b.state = 300, b.h_floats = 2 * 16 * 300;
    expect(lc_cuda_ssd_check(&b), LC_EUNSUPPORTED, "state", "ssd state 300");
    b = s, b.head_dim = 257, b.h_floats = 2 * 257 * 16;
    expect(lc_cuda_ssd_chunked(&b, buf, 16, 0), LC_EUNSUPPORTED, "head_dim", "ssd head_dim 257");
    b = s, b.groups = 3;
    expect(lc_cuda_ssd_step(&b, 0), LC_EINVAL, "groups", "ssd groups not dividing heads");
    expect(lc_cuda_ssd_chunked(&s, ws, 64, 0), LC_EINVAL, "workspace", "ssd short workspace");
    b = s, b.y = x;
    expect(lc_cuda_ssd_chunked(&b, ws, 1 << 20, 0), LC_EINVAL, "overlaps", "ssd y aliasing x");

    lc_selective_scan sc = {1, 100, 8, 16, x, dt, NULL, A, Bm, Cm, NULL, NULL, y, h, 8 * 16, 0, LC_ISA_AUTO};
    CHECK(lc_cuda_selective_scan_check(&sc) == LC_OK, "good scan accepted: %s", lc_last_error());
    lc_selective_scan sb = sc;
    sb.state = 65, sb.h_floats = 8 * 65;
    expect(lc_cuda_selective_scan(&sb, NULL, 0, 0), LC_EUNSUPPORTED, "state", "scan state 65");
    sb = sc, sb.h_floats = 7;
    expect(lc_cuda_selective_scan(&sb, NULL, 0, 0), LC_EINVAL, "h_floats", "scan state size");
    sb = sc, sb.n = 20000;  // 8 channels: spans, so a workspace is needed
    expect(lc_cuda_selective_scan(&sb, NULL, 0, 0), LC_EINVAL, "workspace", "scan without its workspace");

    lc_causal_conv1d cv = {1, 100, 8, 4, x, 8, A, NULL, y, 8, h, 8 * 3};
    CHECK(lc_cuda_causal_conv1d_check(&cv) == LC_OK, "good conv accepted: %s", lc_last_error());
    lc_causal_conv1d cb = cv;
    cb.kernel = 65, cb.state_floats = 8 * 64;
    expect(lc_cuda_causal_conv1d(&cb, 0), LC_EINVAL, "kernel", "conv kernel 65");
    cb = cv, cb.x_stride = 7;
    expect(lc_cuda_causal_conv1d(&cb, 0), LC_EINVAL, "x_stride", "conv stride below channels");
    cb = cv, cb.state = NULL;
    expect(lc_cuda_causal_conv1d(&cb, 0), LC_EINVAL, "state", "conv without its state");
    CHECK(lc_cuda_ssd_check(NULL) == LC_EINVAL && lc_cuda_selective_scan_check(NULL) == LC_EINVAL && lc_cuda_causal_conv1d_check(NULL) == LC_EINVAL, "NULL refused");
    cudaFree(buf);
}

int main(int argc, char **argv) {
    int quick;
    uint64_t seed;
    if (gpu_test_begin("test_gpu_ssm", argc, argv, &quick, &seed)) return 77;
    test_refusals();
    const int level = quick == 2 ? CASE_SMOKE : quick ? CASE_QUICK : CASE_FULL;
    uint64_t counter = 1, shapes = 0;
    auto run = [&](const ssm_case &c) {
        if (c.kind == SSM_SCAN) run_scan(c, seed, &counter);
        else if (c.kind == SSM_SSD) run_ssd(c, seed, &counter);
        else run_conv(c, seed, &counter);
    };
    const int trials = ssm_gpu_trials(level);
    for (int t = 0; t < trials; t++) run(ssm_case_random_gpu(t, seed ^ 0x5D5D5D5Dull, &shapes));
    int n;
    ssm_case *fixed = ssm_cases_select(SSM_GPU_FIXED, level, NULL, &n);
    CHECK(fixed != NULL, "the case table: out of memory");
    const int n_fixed = fixed ? n : 0;
    for (int i = 0; i < n_fixed; i++) run(fixed[i]);
    free(fixed);
    test_nan(seed, &counter);
    printf("test_gpu_ssm: %d cases, %ld checks, %ld failed\n", trials + n_fixed, checks, failures);
    return failures ? 1 : 0;
}
