// gpu_attention: longctx's CUDA flash attention on long sequences (batch 1, 16 heads, bf16,
// head dims 64 and 128, 1K to 32K tokens, full, causal and a 4096-key window), with the
// device's ceilings measured in the same run (cuBLAS bf16 GEMM, device-to-device copy).
// FLOPs: 4 B H N^2 D, halved when causal; the useful pairs only for a window. The cases are
// tests/cases/attention_cases.c's (ATTN_BENCH_GPU); --n replaces its grid's lengths.
// The peers (PyTorch SDPA flash / cuDNN, FlexAttention) run from bench/gpu_attention_peers.py.
//
//   gpu_attention [--quick] [--n N (one length)] [--json PATH]
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "attention_cases.h"
#include "cuda_ok.h"
#include "gemm_ceiling.h"
#include "gpu_args.h"
#include "gpu_timing.h"

struct result {
    attn_case c;
    double ms, tflops, ms_mma;  // ms_mma: the mma.sync kernel (LC_CUDA_PATH_MMA)
};

// A device tensor [b, s, h, d] of dtype t with normal draws.
static lc_tensor device_tensor(lc_dtype t, int64_t b, int64_t s, int64_t h, int64_t d, uint64_t seed) {
    const size_t n = (size_t)(b * s * h * d);
    std::vector<float> f(n);
    std::vector<unsigned char> h16(n * lc_dtype_size(t));
    void *p;
    CUDA_OK(cudaMalloc(&p, h16.size()));
    if (seed) {
        lc_rng_fill_normal(f.data(), n, seed, 0, 0.f, 1.f, 0);
        lc_convert(h16.data(), t, f.data(), LC_F32, n);
        CUDA_OK(cudaMemcpy(p, h16.data(), h16.size(), cudaMemcpyHostToDevice));
    }
    return lc_tensor_bshd(p, t, b, s, h, d);
}

int main(int argc, char **argv) {
    int quick = 0;
    int64_t only_n = 0;
    const char *json = NULL; // written only when asked
    int n_arg = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            if ((rc = gpu_arg_int("gpu_attention", "--n", argv[++i], 1, 1 << 20, &n_arg))) return rc;
            only_n = n_arg;
        }
        else {
            fprintf(stderr, "usage: gpu_attention [--quick] [--n N] [--json PATH]\n");
            return 2;
        }
    }
    // the table's cases (tests/cases/attention_cases.c); --n replaces its grid's lengths
    const case_axes axes = {&only_n, only_n > 0 ? 1 : 0, NULL, 0};
    int n_cases;
    attn_case *cases = attn_cases_select(ATTN_BENCH_GPU, quick ? CASE_QUICK : CASE_FULL, &axes, &n_cases);
    if (!cases) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    fprintf(stderr, "measuring the cuBLAS bf16 GEMM and copy ceilings...\n");
    const double gemm = gemm_tflops(), copy = copy_tbps();
    printf("device: %s, %d SMs; cuBLAS bf16 GEMM %.0f TFLOP/s, device copy %.2f TB/s\n", prop.name, prop.multiProcessorCount, gemm, copy);
    printf("%6s %4s %-12s %10s %9s %8s %14s\n", "N", "D", "mask", "time ms", "TFLOP/s", "of GEMM", "mma.sync TF/s");

    std::vector<result> results;
    for (int i = 0; i < n_cases; i++) {
        const attn_case &c = cases[i];
        char mask[24];
        attn_case_mask_name(&c, mask, sizeof mask);
        fprintf(stderr, "N=%lld D=%lld %s...\n", (long long)c.n_q, (long long)c.dk, mask);
        lc_attention a = {};
        a.q = device_tensor(c.tq, c.batch, c.n_q, c.hq, c.dk, 7);
        a.k = device_tensor(c.tk, c.batch, c.n_kv, c.hkv, c.dk, 8);
        a.v = device_tensor(c.tv, c.batch, c.n_kv, c.hkv, c.dv, 9);
        a.out = device_tensor(c.tout, c.batch, c.n_q, c.hq, c.dv, 0);
        float *lse;
        CUDA_OK(cudaMalloc(&lse, (size_t)(c.batch * c.hq * c.n_q) * sizeof(float)));
        a.lse = lse, a.mask = attn_case_mask(&c), a.scale = c.scale, a.softcap = c.softcap;
        const size_t ws_bytes = lc_cuda_attention_workspace_size(&a);  // the tail split's room
        void *ws = NULL;
        if (ws_bytes) CUDA_OK(cudaMalloc(&ws, ws_bytes));
        if (lc_cuda_attention_flash(&a, ws, ws_bytes, 0) != LC_OK) {
            fprintf(stderr, "failed: %s\n", lc_last_error());
            return 1;
        }
        double ms = time_ms([&] { lc_cuda_attention_flash(&a, ws, ws_bytes, 0); });
        CUDA_OK(cudaGetLastError());
        double ms_mma = time_ms([&] { lc_cuda_attention_flash_path(&a, LC_CUDA_PATH_MMA, NULL, 0, 0); });  // the same shape on mma.sync
        CUDA_OK(cudaGetLastError());
        // FLOPs: 2 (dk + dv) per pair, over batch and heads: n_q n_kv pairs, halved when
        // causal, the useful pairs only for a window
        const double n2 = (double)c.n_q * c.n_kv;
        const double pairs = (double)c.batch * c.hq *
                             (c.mask == ATTN_SLIDING ? (double)lc_mask_count(&a.mask, c.n_q, c.n_kv) : c.mask == ATTN_CAUSAL ? 0.5 * n2 : n2);
        const double tflops = 2.0 * (c.dk + c.dv) * pairs / (ms * 1e-3) * 1e-12;
        results.push_back({c, ms, tflops, ms_mma});
        printf("%6lld %4lld %-12s %10.3f %9.1f %7.1f%% %14.1f\n", (long long)c.n_q, (long long)c.dk, mask, ms, tflops, 100 * tflops / gemm, tflops * ms / ms_mma);
        fflush(stdout);
        cudaFree(a.q.data), cudaFree(a.k.data), cudaFree(a.v.data), cudaFree(a.out.data), cudaFree(lse), cudaFree(ws);
    }
    free(cases);

    if (!json) return 0;
    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"gpu_attention\",\n  \"device\": \"%s\",\n  \"gemm_bf16_tflops\": %.1f,\n  \"copy_tbps\": %.3f,\n  \"cases\": [\n",
            prop.name, gemm, copy);
    for (size_t i = 0; i < results.size(); i++) {
        const result &r = results[i];
        const attn_case &c = r.c;
        fprintf(f, "    {\"batch\": %lld, \"heads\": %lld, \"n\": %lld, \"d\": %lld, \"mask\": \"%s\", \"window\": %lld, \"ms\": %.4f, \"tflops\": %.2f, \"ms_mma_sync\": %.4f}%s\n",
                (long long)c.batch, (long long)c.hq, (long long)c.n_q, (long long)c.dk,
                c.mask == ATTN_SLIDING ? "window" : c.mask == ATTN_CAUSAL ? "causal" : "full", (long long)(c.mask == ATTN_SLIDING ? c.window : 0), r.ms,
                r.tflops, r.ms_mma, i + 1 < results.size() ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
