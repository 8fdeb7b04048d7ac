// GPU linear attention (lc_cuda_linear_attention_forward, the chunkwise prefill, and
// lc_cuda_linear_attention_step, the recurrence) against the CPU's float64 quadratic
// reference (lc_linear_attention_naive) on fresh random inputs: elu+1, relu and FAVOR+
// features, causal and not, per-head decay, with and without normalisation, BSHD and BHSD
// layouts, chunks that do not divide the length (and rows of one chunk over several tiles).
// A causal sequence runs as a prefill from the empty state, a second prefill continuing its
// state, a one-token step and the rest as steps (tests/cases/linear_cases.c); every call
// reads and writes strided sub-views of the same device tensors. Outputs are poisoned (NaN)
// before the first call; the final state (S, z and the log-scale c, compared as exp(c) S and
// exp(c) z) against the CPU recurrence (lc_linear_attention_step) over the whole sequence,
// whose outputs are also the reference of causal sequences past 3000 tokens.
// NaN propagation; refusals. Without a GPU it exits 77 (CTest: skipped).
//
//   test_gpu_linear [--quick | --smoke] [--seed S]
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
#include "linear_cases.h"

typedef std::vector<float> fvec;

// A host tensor and its device twin, same layout.
struct pair_tensor {
    lc_tensor h, d;
    fvec host;
    void make(int layout, int64_t B, int64_t n, int64_t H, int64_t D, uint64_t seed, uint64_t *k, float sd) {
        h = layout ? lc_tensor_bhsd(NULL, LC_F32, B, n, H, D) : lc_tensor_bshd(NULL, LC_F32, B, n, H, D);
        host.resize((size_t)h.capacity);
        lc_rng_fill_normal(host.data(), host.size(), seed, (*k)++ << 36, 0.f, sd, 0);
        h.data = host.data();
        d = h;
        CUDA_OK(cudaMalloc(&d.data, host.size() * sizeof(float)));
        CUDA_OK(cudaMemcpy(d.data, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    fvec fetch() const {
        fvec out(host.size());
        CUDA_OK(cudaMemcpy(out.data(), d.data, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
        return out;
    }
    ~pair_tensor() {
        if (d.data) cudaFree(d.data);
    }
};

// Tokens [t0, t1) of a view.
static lc_tensor sub(const lc_tensor &t, int64_t t0, int64_t t1) {
    lc_tensor s = t;
    s.data = (float *)t.data + t0 * t.stride[1];
    s.shape[1] = t1 - t0;
    s.capacity = t.capacity - t0 * t.stride[1];
    return s;
}

// max |got - want| / (tol (rms(want) + |want|)): <= 1 passes; NaN fails.
static double scaled_err(const double *got, const double *want, size_t n, double tol) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += want[i] * want[i];
    const double rms = n ? sqrt(ss / (double)n) : 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs(got[i] - want[i]) / (tol * (rms + fabs(want[i])) + 1e-300);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

// A state as its true values exp(c) S and exp(c) z, per (batch, head).
static std::vector<double> true_state(const fvec &st, int64_t BH, int64_t F, int64_t dv) {
    const int64_t per = F * dv + F + 1;
    std::vector<double> out((size_t)(BH * (per - 1)));
    for (int64_t bh = 0; bh < BH; bh++) {
        const double e = exp((double)st[(size_t)(bh * per + per - 1)]);
        for (int64_t i = 0; i < per - 1; i++) out[(size_t)(bh * (per - 1) + i)] = e * st[(size_t)(bh * per + i)];
    }
    return out;
}

static int run(const linear_case &c, uint64_t seed, uint64_t *k) {
    const int64_t B = c.batch, n = c.n, H = c.heads, dk = c.dk, dv = c.dv;
    pair_tensor q, kk, v, out;
    q.make(c.layout, B, n, H, dk, seed, k, c.in_scale);
    kk.make(c.layout, B, n, H, dk, seed, k, c.in_scale);
    v.make(c.layout, B, n, H, dv, seed, k, 1.0f);
    out.make(c.layout, B, n, H, dv, seed, k, 1.0f);
    CUDA_OK(cudaMemset(out.d.data, 0xff, out.host.size() * sizeof(float)));  // poison: an unwritten output is NaN
    fvec omega, decay;
    float *omega_dev = NULL;
    if (c.feature == LC_FEATURE_FAVOR) {
        omega.resize((size_t)(c.features * dk));
        lc_favor_draw(omega.data(), c.features, dk, seed, (*k)++);
        CUDA_OK(cudaMalloc(&omega_dev, omega.size() * sizeof(float)));
        CUDA_OK(cudaMemcpy(omega_dev, omega.data(), omega.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    if (c.decay) {
        decay.resize((size_t)H);
        for (int64_t h = 0; h < H; h++) decay[(size_t)h] = h == 0 ? 1.0f : (float)(0.5 + 0.5 * lc_rng_uniform(seed, (*k)++));
    }
    lc_linear_attention a = {};
    a.q = q.h, a.k = kk.h, a.v = v.h, a.out = out.h;
    a.feature = c.feature, a.features = c.features, a.omega = c.feature == LC_FEATURE_FAVOR ? omega.data() : NULL;
    a.causal = c.causal, a.decay = c.decay ? decay.data() : NULL, a.normalize = c.normalize, a.chunk = c.chunk, a.threads = 0;

    // the references: the float64 quadratic form (past 3000 tokens, causal, where it would
    // take minutes, the CPU recurrence in f32, which tests/test_linear.c holds to a float64
    // recurrence over 64K tokens); the CPU recurrence's final state
    const int64_t per = lc_linear_state_floats(&a), F = lc_linear_features(&a), BH = B * H;
    const int quadratic = !c.causal || n <= 3000;
    if (quadratic) CHECK(lc_linear_attention_naive(&a, 0) == LC_OK, "reference: %s", lc_last_error());
    fvec state_ref((size_t)(BH * per), 0.0f);
    if (c.causal) {
        fvec scratch(out.host.size());
        lc_linear_attention r = a;
        r.out.data = quadratic ? scratch.data() : out.host.data();
        CHECK(lc_linear_attention_step(&r, state_ref.data(), BH * per) == LC_OK, "cpu recurrence: %s", lc_last_error());
    }
    const fvec want = out.host;

    // the GPU: two prefills, one step of one token, the rest as steps
    lc_linear_attention g = a;
    g.q = q.d, g.k = kk.d, g.v = v.d, g.out = out.d, g.omega = omega_dev;
    float *state = NULL;
    const int with_state = c.causal && !(c.split1 == n && c.split2 == n && (c.n % 4) == 3);  // some single prefills without a state
    if (with_state) {
        CUDA_OK(cudaMalloc(&state, sizeof(float) * (size_t)(BH * per)));
        CUDA_OK(cudaMemset(state, 0, sizeof(float) * (size_t)(BH * per)));
    }
    struct call {
        int64_t t0, t1;
        int step;
    } calls[4] = {{0, c.split1, 0}, {c.split1, c.split2, 0}, {c.split2, c.split2 + 1, 1}, {c.split2 + 1, n, 1}};
    lc_status st = LC_OK;
    for (const call &cl : calls) {
        if (cl.t1 <= cl.t0 || cl.t1 > n) continue;
        lc_linear_attention s = g;
        s.q = sub(g.q, cl.t0, cl.t1), s.k = sub(g.k, cl.t0, cl.t1), s.v = sub(g.v, cl.t0, cl.t1), s.out = sub(g.out, cl.t0, cl.t1);
        if (cl.step) {
            st = lc_cuda_linear_attention_step(&s, state, BH * per, 0);
        } else {
            const size_t ws_bytes = lc_cuda_linear_attention_workspace_size(&s);
            void *ws = NULL;
            CUDA_OK(cudaMalloc(&ws, ws_bytes ? ws_bytes : 16));
            st = lc_cuda_linear_attention_forward(&s, state, state ? BH * per : 0, ws, ws_bytes, 0);
            CUDA_OK(cudaDeviceSynchronize());
            cudaFree(ws);
        }
        CHECK(st == LC_OK, "%s: %s", cl.step ? "step" : "forward", lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
    }
    const fvec got = out.fetch();
    std::vector<double> gd, wd;  // the view's elements, in order
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < n; t++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t e = 0; e < dv; e++) {
                    const int64_t o = lc_tensor_offset(&out.h, b, t, h, e);
                    gd.push_back(got[(size_t)o]), wd.push_back(want[(size_t)o]);
                }
    const double eo = scaled_err(gd.data(), wd.data(), gd.size(), c.tol);
    double es = 0;
    if (state) {
        fvec sg((size_t)(BH * per));
        CUDA_OK(cudaMemcpy(sg.data(), state, sg.size() * sizeof(float), cudaMemcpyDeviceToHost));
        std::vector<double> tg = true_state(sg, BH, F, dv), tw = true_state(state_ref, BH, F, dv);
        es = scaled_err(tg.data(), tw.data(), tg.size(), c.tol);
    }
    const int ok = st == LC_OK && eo <= 1 && es <= 1;
    CHECK(ok, "%s: b=%lld n=%lld h=%lld dk=%lld dv=%lld %s m=%lld chunk=%lld causal=%d norm=%d decay=%d layout=%d scale=%g split %lld/%lld state=%d: scaled error out %.3g, state %.3g",
          c.name, (long long)B, (long long)n, (long long)H, (long long)dk, (long long)dv, lc_feature_map_name(c.feature), (long long)c.features, (long long)c.chunk,
          c.causal, c.normalize, c.decay, c.layout, (double)c.in_scale, (long long)c.split1, (long long)c.split2, with_state, eo, es);
    if (state) cudaFree(state);
    if (omega_dev) cudaFree(omega_dev);
    return ok;
}

// A NaN in v of token 90 (head 0, column 2) reaches that column from token 90 on and nothing else.
static void test_nan(uint64_t seed, uint64_t *k) {
    const int64_t n = 200, H = 2, d = 8;
    pair_tensor q, kk, v, out;
    q.make(0, 1, n, H, d, seed, k, 0.5f), kk.make(0, 1, n, H, d, seed, k, 0.5f), v.make(0, 1, n, H, d, seed, k, 1.0f), out.make(0, 1, n, H, d, seed, k, 1.0f);
    const float nan = NAN;
    CUDA_OK(cudaMemcpy((float *)v.d.data + (90 * H + 0) * d + 2, &nan, sizeof nan, cudaMemcpyHostToDevice));
    lc_linear_attention a = {};
    a.q = q.d, a.k = kk.d, a.v = v.d, a.out = out.d, a.feature = LC_FEATURE_ELU1, a.causal = 1, a.normalize = 1, a.chunk = 64;
    const size_t ws_bytes = lc_cuda_linear_attention_workspace_size(&a);
    void *ws;
    CUDA_OK(cudaMalloc(&ws, ws_bytes));
    CHECK(lc_cuda_linear_attention_forward(&a, NULL, 0, ws, ws_bytes, 0) == LC_OK, "nan: %s", lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    cudaFree(ws);
    const fvec o = out.fetch();
    int wrong = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < H * d; i++) wrong += (t >= 90 && i == 2) == !!isfinite(o[(size_t)(t * H * d + i)]);
    CHECK(wrong == 0, "a NaN in v reaches %d outputs it should not (or misses one that depends on it)", wrong);
}

static void expect(lc_status got, lc_status want, const char *word, const char *what) {
    CHECK(got == want && strstr(lc_last_error(), word), "%s: status %d (want %d), said: %s", what, (int)got, (int)want, lc_last_error());
}

static void test_refusals(void) {
    float *buf;
    CUDA_OK(cudaMalloc(&buf, 1 << 24));
    lc_linear_attention a = {};
    a.q = lc_tensor_bshd(buf, LC_F32, 1, 100, 2, 16), a.k = lc_tensor_bshd(buf + 100000, LC_F32, 1, 100, 2, 16);
    a.v = lc_tensor_bshd(buf + 200000, LC_F32, 1, 100, 2, 16), a.out = lc_tensor_bshd(buf + 300000, LC_F32, 1, 100, 2, 16);
    a.feature = LC_FEATURE_ELU1, a.causal = 1, a.normalize = 1;
    float *state = buf + 400000, *ws = buf + 1000000;
    const int64_t sf = 2 * lc_linear_state_floats(&a);
    CHECK(lc_cuda_linear_attention_check(&a) == LC_OK, "good descriptor accepted: %s", lc_last_error());
    lc_linear_attention b = a;
    b.feature = LC_FEATURE_FAVOR, b.features = 5000, b.omega = buf + 2000000;
    expect(lc_cuda_linear_attention_check(&b), LC_EUNSUPPORTED, "features", "5000 FAVOR+ features");
    b = a, b.q.dtype = LC_BF16;
    expect(lc_cuda_linear_attention_check(&b), LC_EUNSUPPORTED, "dtype", "bf16 q");
    expect(lc_cuda_linear_attention_forward(&a, state, sf, ws, 64, 0), LC_EINVAL, "workspace", "short workspace");
    expect(lc_cuda_linear_attention_forward(&a, state, sf - 1, ws, 1 << 22, 0), LC_EINVAL, "state_floats", "state of the wrong size");
    expect(lc_cuda_linear_attention_step(&a, NULL, sf, 0), LC_EINVAL, "state", "step without a state");
    b = a, b.causal = 0;
    expect(lc_cuda_linear_attention_step(&b, state, sf, 0), LC_EINVAL, "causal", "non-causal step");
    expect(lc_cuda_linear_attention_forward(&b, state, sf, ws, 1 << 22, 0), LC_EINVAL, "state", "state on a non-causal pass");
    b = a, b.out = b.v;
    expect(lc_cuda_linear_attention_check(&b), LC_EINVAL, "overlaps", "out aliasing v");
    CHECK(lc_cuda_linear_attention_check(NULL) == LC_EINVAL, "NULL refused");
    cudaFree(buf);
}

int main(int argc, char **argv) {
    int quick;
    uint64_t seed;
    if (gpu_test_begin("test_gpu_linear", argc, argv, &quick, &seed)) return 77;
    test_refusals();
    const int level = quick == 2 ? CASE_SMOKE : quick ? CASE_QUICK : CASE_FULL;
    uint64_t counter = 1, shapes = 0;
    const int trials = linear_gpu_trials(level);
    for (int t = 0; t < trials; t++) run(linear_case_random_gpu(t, seed ^ 0x11AA11AAull, &shapes), seed, &counter);
    int n;
    linear_case *fixed = linear_cases_select(LINEAR_GPU_FIXED, level, NULL, &n);
    CHECK(fixed != NULL, "the case table: out of memory");
    const int n_fixed = fixed ? n : 0;
    for (int i = 0; i < n_fixed; i++) run(fixed[i], seed, &counter);
    free(fixed);
    test_nan(seed, &counter);
    printf("test_gpu_linear: %d cases, %ld checks, %ld failed\n", trials + n_fixed, checks, failures);
    return failures ? 1 : 0;
}
