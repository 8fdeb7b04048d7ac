// gpu_linear: the O(n) mechanisms on the GPU over long sequences, B = 1, in one run with the
// device's copy bandwidth: chunked linear attention (16 heads, d = 128, elu+1 and FAVOR+;
// tests/cases/linear_cases.c, LINEAR_BENCH_GPU), Mamba-2's SSD (16 heads of 128 channels,
// state 128, chunks of 64 and 256), Mamba's selective scan (2048 channels, state 16) and the
// conv1d in front of the scans (tests/cases/ssm_cases.c, SSM_BENCH_GPU), at 4K / 16K / 64K
// tokens. Each row gives the fewest bytes the call must move (inputs read once, outputs
// written once, f32) as a fraction of the copy bandwidth, and the FLOPs of the chunked form.
// Then the crossover: causal flash attention (bf16, 16 heads, d = 128, lc_cuda_attention_flash)
// against the same linear attention, SSD (chunk 64) and scan, measured at 1K..64K tokens and
// for the O(n) kernels at 256K; flash past 64K is the 64K time scaled by (n / 64K)^2.
// The PyTorch peers of the chunked forms run from bench/gpu_linear_peers.py.
//
//   gpu_linear [--quick] [--n N (one length)] [--json PATH]
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "gpu_args.h"
#include "gpu_timing.h"
#include "linear_cases.h"
#include "ssm_cases.h"

// A device array of n floats drawn N(mean, sd) (the draws made on the device's host once).
static float *device_normal(size_t n, uint64_t seed, float mean, float sd) {
    std::vector<float> h(n);
    lc_rng_fill_normal(h.data(), n, seed, 0, mean, sd, 0);
    float *p;
    CUDA_OK(cudaMalloc(&p, n * sizeof(float)));
    CUDA_OK(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    return p;
}

static void *device_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes) CUDA_OK(cudaMalloc(&p, bytes));
    return p;
}

struct row {
    char kernel[48];
    int64_t n;
    double ms, bytes, flops;
};

static double copy_bw;  // TB/s, bytes read + written
static std::vector<row> rows;

static void print_row(const row &r) {
    const double floor_ms = r.bytes / (copy_bw * 1e12) * 1e3;
    printf("%-22s %7lld %10.3f %10.1f %9.1f%% %10.2f\n", r.kernel, (long long)r.n, r.ms, r.bytes / 1e6, 100 * floor_ms / r.ms, r.flops / (r.ms * 1e-3) * 1e-12);
    fflush(stdout);
    rows.push_back(r);
}

// Chunked linear attention, causal, normalised; returns ms (negative: refused).
static double time_linear(const linear_case &c, int64_t n, int report) {
    const int64_t H = c.heads, dk = c.dk, dv = c.dv;
    lc_linear_attention a = {};
    a.q = lc_tensor_bshd(device_normal((size_t)(n * H * dk), 1, 0, c.in_scale), LC_F32, 1, n, H, dk);
    a.k = lc_tensor_bshd(device_normal((size_t)(n * H * dk), 2, 0, c.in_scale), LC_F32, 1, n, H, dk);
    a.v = lc_tensor_bshd(device_normal((size_t)(n * H * dv), 3, 0, 1), LC_F32, 1, n, H, dv);
    a.out = lc_tensor_bshd(device_alloc(sizeof(float) * (size_t)(n * H * dv)), LC_F32, 1, n, H, dv);
    a.feature = c.feature, a.features = c.features, a.causal = 1, a.normalize = 1, a.chunk = c.chunk;
    float *omega = NULL;
    if (c.feature == LC_FEATURE_FAVOR) {
        std::vector<float> w((size_t)(c.features * dk));
        lc_favor_draw(w.data(), c.features, dk, 4, 0);
        omega = (float *)device_alloc(w.size() * sizeof(float));
        CUDA_OK(cudaMemcpy(omega, w.data(), w.size() * sizeof(float), cudaMemcpyHostToDevice));
        a.omega = omega;
    }
    const int64_t sf = H * lc_linear_state_floats(&a);
    float *state = (float *)device_alloc(sizeof(float) * (size_t)sf);
    CUDA_OK(cudaMemset(state, 0, sizeof(float) * (size_t)sf));
    const size_t ws_bytes = lc_cuda_linear_attention_workspace_size(&a);
    void *ws = device_alloc(ws_bytes);
    double ms = -1;
    if (lc_cuda_linear_attention_forward(&a, state, sf, ws, ws_bytes, 0) == LC_OK) {
        ms = time_ms([&] { lc_cuda_linear_attention_forward(&a, state, sf, ws, ws_bytes, 0); });
        CUDA_OK(cudaGetLastError());
    } else {
        fprintf(stderr, "linear attention refused: %s\n", lc_last_error());
    }
    if (report && ms > 0) {
        const int64_t F = lc_linear_features(&a), L = c.chunk ? c.chunk : 64;
        row r;
        snprintf(r.kernel, sizeof r.kernel, "linear %s", lc_feature_map_name(c.feature));
        r.n = n, r.ms = ms;
        r.bytes = 4.0 * (double)n * H * (2 * dk + 2 * dv) + 8.0 * sf;  // q, k, v, out; the state in and out
        // per token and head: q.k inside the chunk (L F), P V (L d_v), q.S (F d_v), the state (F (d_v + 1)),
        // FAVOR+ features 2 F d_k
        r.flops = 2.0 * n * H * (L * F + L * dv + F * dv + F * (dv + 1) + (c.feature == LC_FEATURE_FAVOR ? 2.0 * F * dk : 0));
        print_row(r);
    }
    cudaFree(a.q.data), cudaFree(a.k.data), cudaFree(a.v.data), cudaFree(a.out.data), cudaFree(state), cudaFree(ws);
    if (omega) cudaFree(omega);
    return ms;
}

static double time_ssd(const ssm_case &c, int64_t n, int report) {
    const int64_t H = c.heads, P = c.head_dim, G = c.bc_groups, N = c.state;
    float *x = device_normal((size_t)(n * H * P), 1, 0, 1), *dt = device_normal((size_t)(n * H), 2, -1, 1), *A = device_normal((size_t)H, 3, -1, 0.1f);
    float *Bm = device_normal((size_t)(n * G * N), 4, 0, 1), *Cm = device_normal((size_t)(n * G * N), 5, 0, 1), *D = device_normal((size_t)H, 6, 0, 1);
    float *bias = device_normal((size_t)H, 7, 0, 0.5f), *h = device_normal((size_t)(H * P * N), 8, 0, 1);
    float *y = (float *)device_alloc(sizeof(float) * (size_t)(n * H * P));
    lc_ssd s = {1, n, H, P, G, N, x, dt, bias, 0, 0, A, Bm, Cm, D, y, h, H * P * N, c.chunk, 0};
    const size_t ws_bytes = lc_cuda_ssd_workspace_size(&s);
    void *ws = device_alloc(ws_bytes);
    double ms = -1;
    if (lc_cuda_ssd_chunked(&s, ws, ws_bytes, 0) == LC_OK) {
        ms = time_ms([&] { lc_cuda_ssd_chunked(&s, ws, ws_bytes, 0); });
        CUDA_OK(cudaGetLastError());
    } else {
        fprintf(stderr, "ssd refused: %s\n", lc_last_error());
    }
    if (report && ms > 0) {
        const int64_t L = c.chunk ? c.chunk : 64;
        row r;
        snprintf(r.kernel, sizeof r.kernel, "ssd chunk %lld", (long long)L);
        r.n = n, r.ms = ms;
        r.bytes = 4.0 * ((double)n * H * P * 2 + (double)n * H + 2.0 * n * G * N + 2.0 * H * P * N);
        // per token and head: C.B inside the chunk (L N), M X (L P), C.H (N P), the state (P N)
        r.flops = 2.0 * n * H * (L * N + L * P + 2.0 * N * P);
        print_row(r);
    }
    cudaFree(x), cudaFree(dt), cudaFree(A), cudaFree(Bm), cudaFree(Cm), cudaFree(D), cudaFree(bias), cudaFree(h), cudaFree(y), cudaFree(ws);
    return ms;
}

static double time_scan(const ssm_case &c, int64_t n, int report) {
    const int64_t E = c.channels, N = c.state;
    float *x = device_normal((size_t)(n * E), 1, 0, 1), *dt = device_normal((size_t)(n * E), 2, -1, 1), *z = device_normal((size_t)(n * E), 3, 0, 1);
    float *A = device_normal((size_t)(E * N), 4, -1, 0.1f), *Bm = device_normal((size_t)(n * N), 5, 0, 1), *Cm = device_normal((size_t)(n * N), 6, 0, 1);
    float *D = device_normal((size_t)E, 7, 0, 1), *bias = device_normal((size_t)E, 8, 0, 0.5f), *h = device_normal((size_t)(E * N), 9, 0, 1);
    float *y = (float *)device_alloc(sizeof(float) * (size_t)(n * E));
    lc_selective_scan s = {1, n, E, N, x, dt, bias, A, Bm, Cm, D, z, y, h, E * N, 0, LC_ISA_AUTO};
    const size_t ws_bytes = lc_cuda_selective_scan_workspace_size(&s);
    void *ws = device_alloc(ws_bytes);
    double ms = -1;
    if (lc_cuda_selective_scan(&s, ws, ws_bytes, 0) == LC_OK) {
        ms = time_ms([&] { lc_cuda_selective_scan(&s, ws, ws_bytes, 0); });
        CUDA_OK(cudaGetLastError());
    } else {
        fprintf(stderr, "scan refused: %s\n", lc_last_error());
    }
    if (report && ms > 0) {
        row r;
        snprintf(r.kernel, sizeof r.kernel, "selective scan");
        r.n = n, r.ms = ms;
        r.bytes = 4.0 * ((double)n * E * 4 + 2.0 * n * N + 2.0 * E * N);
        r.flops = 2.0 * 3 * n * E * N;  // h update (2 FMA) and C.h (1 FMA) per state element and token
        print_row(r);
    }
    cudaFree(x), cudaFree(dt), cudaFree(z), cudaFree(A), cudaFree(Bm), cudaFree(Cm), cudaFree(D), cudaFree(bias), cudaFree(h), cudaFree(y), cudaFree(ws);
    return ms;
}

static void time_conv(const ssm_case &c, int64_t n) {
    const int64_t C = c.channels, K = c.kernel;
    float *x = device_normal((size_t)(n * C), 1, 0, 1), *w = device_normal((size_t)(C * K), 2, 0, 0.5f), *b = device_normal((size_t)C, 3, 0, 0.5f);
    float *st = device_normal((size_t)(C * (K - 1)), 4, 0, 1), *y = (float *)device_alloc(sizeof(float) * (size_t)(n * C));
    lc_causal_conv1d cv = {1, n, C, K, x, C, w, b, y, C, st, C * (K - 1)};
    if (lc_cuda_causal_conv1d(&cv, 0) != LC_OK) {
        fprintf(stderr, "conv1d refused: %s\n", lc_last_error());
    } else {
        row r;
        snprintf(r.kernel, sizeof r.kernel, "conv1d K=%lld", (long long)K);
        r.n = n, r.ms = time_ms([&] { lc_cuda_causal_conv1d(&cv, 0); });
        CUDA_OK(cudaGetLastError());
        r.bytes = 4.0 * 2 * n * C, r.flops = 2.0 * n * C * K;
        print_row(r);
    }
    cudaFree(x), cudaFree(w), cudaFree(b), cudaFree(st), cudaFree(y);
}

// Causal flash attention, bf16, B = 1, 16 heads, d = 128.
static double time_flash(int64_t n) {
    const int64_t H = 16, d = 128;
    lc_attention a = {};
    const size_t e = (size_t)(n * H * d);
    void *q = device_alloc(e * 2), *k = device_alloc(e * 2), *v = device_alloc(e * 2), *o = device_alloc(e * 2);
    std::vector<float> f(e);
    std::vector<uint16_t> b(e);
    lc_rng_fill_normal(f.data(), e, 5, 0, 0.f, 1.f, 0);
    lc_convert(b.data(), LC_BF16, f.data(), LC_F32, e);
    CUDA_OK(cudaMemcpy(q, b.data(), e * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(k, b.data(), e * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(v, b.data(), e * 2, cudaMemcpyHostToDevice));
    a.q = lc_tensor_bshd(q, LC_BF16, 1, n, H, d), a.k = lc_tensor_bshd(k, LC_BF16, 1, n, H, d), a.v = lc_tensor_bshd(v, LC_BF16, 1, n, H, d);
    a.out = lc_tensor_bshd(o, LC_BF16, 1, n, H, d), a.mask = lc_mask_causal();
    const size_t ws_bytes = lc_cuda_attention_workspace_size(&a);
    void *ws = device_alloc(ws_bytes);
    double ms = -1;
    if (lc_cuda_attention_flash(&a, ws, ws_bytes, 0) == LC_OK) ms = time_ms([&] { lc_cuda_attention_flash(&a, ws, ws_bytes, 0); });
    else fprintf(stderr, "flash refused: %s\n", lc_last_error());
    CUDA_OK(cudaGetLastError());
    cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o), cudaFree(ws);
    return ms;
}

int main(int argc, char **argv) {
    int quick = 0, n_arg = 0, rc = 0;
    int64_t only_n = 0;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            if ((rc = gpu_arg_int("gpu_linear", "--n", argv[++i], 1, 1 << 22, &n_arg))) return rc;
            only_n = n_arg;
        } else {
            fprintf(stderr, "usage: gpu_linear [--quick] [--n N] [--json PATH]\n");
            return 2;
        }
    }
    const case_axes axes = {&only_n, only_n > 0 ? 1 : 0, NULL, 0};
    const int level = quick ? CASE_QUICK : CASE_FULL;
    int n_lin, n_ssm;
    linear_case *lin = linear_cases_select(LINEAR_BENCH_GPU, level, &axes, &n_lin);
    ssm_case *ssm = ssm_cases_select(SSM_BENCH_GPU, level, &axes, &n_ssm);
    if (!lin || !ssm) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    fprintf(stderr, "measuring the copy ceiling...\n");
    copy_bw = copy_tbps();
    printf("device: %s, %d SMs; device copy %.2f TB/s (read + write)\n", prop.name, prop.multiProcessorCount, copy_bw);
    printf("%-22s %7s %10s %10s %10s %10s\n", "kernel", "N", "time ms", "MB (min)", "of copy", "TFLOP/s");
    for (int i = 0; i < n_lin; i++) time_linear(lin[i], lin[i].n, 1);
    for (int i = 0; i < n_ssm; i++) {
        if (ssm[i].kind == SSM_SSD) time_ssd(ssm[i], ssm[i].n, 1);
        else if (ssm[i].kind == SSM_SCAN) time_scan(ssm[i], ssm[i].n, 1);
        else time_conv(ssm[i], ssm[i].n);
    }

    // the crossover: one shape of each, over lengths
    if (!quick && !only_n) {
        linear_case lc = lin[0];
        ssm_case sd = ssm[0], sc = ssm[0];
        for (int i = 0; i < n_ssm; i++) {
            if (ssm[i].kind == SSM_SSD && ssm[i].chunk == 64) sd = ssm[i];
            if (ssm[i].kind == SSM_SCAN) sc = ssm[i];
        }
        printf("\ncrossover, B = 1, 16 heads, d = 128 (ms; flash: causal bf16; flash past 65536: the 65536 time x (n / 65536)^2)\n");
        printf("%8s %12s %12s %12s %12s\n", "N", "flash", "linear elu1", "ssd", "scan");
        double flash64k = -1;
        for (int64_t n = 1024; n <= 262144; n *= 4) {
            double f = n <= 65536 ? time_flash(n) : flash64k * ((double)n / 65536) * ((double)n / 65536);
            if (n == 65536) flash64k = f;
            const double l = time_linear(lc, n, 0), s = time_ssd(sd, n, 0), m = time_scan(sc, n, 0);
            printf("%8lld %11.3f%s %12.3f %12.3f %12.3f\n", (long long)n, f, n > 65536 ? "*" : " ", l, s, m);
            fflush(stdout);
        }
    }
    free(lin), free(ssm);

    if (!json) return 0;
    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"gpu_linear\",\n  \"device\": \"%s\",\n  \"copy_tbps\": %.3f,\n  \"cases\": [\n", prop.name, copy_bw);
    for (size_t i = 0; i < rows.size(); i++)
        fprintf(f, "    {\"kernel\": \"%s\", \"n\": %lld, \"ms\": %.4f, \"min_bytes\": %.0f, \"flops\": %.0f}%s\n", rows[i].kernel, (long long)rows[i].n, rows[i].ms, rows[i].bytes,
                rows[i].flops, i + 1 < rows.size() ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
