// bench/gpu_attention: longctx's CUDA flash attention on the shapes of issue 6, with the
// device's ceilings measured in the same run (cuBLAS bf16 GEMM, device-to-device copy).
// FLOPs: 4 B H N^2 D, halved when causal; the useful pairs only for a window.
// The peers (PyTorch SDPA flash / cuDNN, FlexAttention) run from bench/gpu_attention_peers.py.
//
//   gpu_attention [--quick] [--n N (one length)] [--json PATH]
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "gpu_timing.h"



static double gemm_tflops(void) {
    const int n = 8192;
    void *A, *B, *C;
    CUDA_OK(cudaMalloc(&A, (size_t)n * n * 2));
    CUDA_OK(cudaMalloc(&B, (size_t)n * n * 2));
    CUDA_OK(cudaMalloc(&C, (size_t)n * n * 2));
    std::vector<float> f((size_t)n * n);
    lc_rng_fill_normal(f.data(), f.size(), 1, 0, 0.f, 1.f, 0);
    std::vector<uint16_t> h(f.size());
    lc_convert(h.data(), LC_BF16, f.data(), LC_F32, f.size());
    CUDA_OK(cudaMemcpy(A, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(B, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
    cublasHandle_t handle;
    cublasCreate(&handle);
    const float one = 1.f, zero = 0.f;
    double ms = time_ms([&] {
        cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, CUDA_R_16BF, n, B, CUDA_R_16BF, n, &zero, C, CUDA_R_16BF, n,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    cublasDestroy(handle);
    cudaFree(A), cudaFree(B), cudaFree(C);
    return 2.0 * n * n * (double)n / (ms * 1e-3) * 1e-12;
}


struct result {
    int n, d, causal, window;
    double ms, tflops, ms_mma;  // ms_mma: the mma.sync kernel (LC_CUDA_PATH_MMA)
};

int main(int argc, char **argv) {
    int quick = 0, only_n = 0;
    const char *json = "bench/results/gpu_attention.json";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) only_n = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: gpu_attention [--quick] [--n N] [--json PATH]\n");
            return 2;
        }
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    fprintf(stderr, "measuring the cuBLAS bf16 GEMM and copy ceilings...\n");
    const double gemm = gemm_tflops(), copy = copy_tbps();
    printf("device: %s, %d SMs; cuBLAS bf16 GEMM %.0f TFLOP/s, device copy %.2f TB/s\n", prop.name, prop.multiProcessorCount, gemm, copy);
    printf("%6s %4s %-12s %10s %9s %8s %14s\n", "N", "D", "mask", "time ms", "TFLOP/s", "of GEMM", "mma.sync TF/s");

    const int B = 1, H = 16;
    std::vector<result> results;
    const int lengths[] = {1024, 2048, 4096, 8192, 16384, 32768};
    const int n_len = quick ? 3 : 6;
    struct spec {
        int n, d, causal, window;
    };
    std::vector<spec> specs;
    for (int d : {64, 128})
        for (int causal = 0; causal <= 1; causal++)
            for (int li = 0; li < n_len; li++)
                if (!only_n || lengths[li] == only_n) specs.push_back({lengths[li], d, causal, 0});
    for (int d : {64, 128}) specs.push_back({quick ? 8192 : 32768, d, 1, 4096});

    for (const spec &c : specs) {
        fprintf(stderr, "N=%d D=%d %s...\n", c.n, c.d, c.window ? "window" : c.causal ? "causal" : "full");
        const size_t elems = (size_t)B * c.n * H * c.d;
        void *q, *k, *v, *o;
        float *lse;
        CUDA_OK(cudaMalloc(&q, elems * 2));
        CUDA_OK(cudaMalloc(&k, elems * 2));
        CUDA_OK(cudaMalloc(&v, elems * 2));
        CUDA_OK(cudaMalloc(&o, elems * 2));
        CUDA_OK(cudaMalloc(&lse, (size_t)B * H * c.n * sizeof(float)));
        std::vector<float> f(elems);
        std::vector<uint16_t> h(elems);
        void *bufs[3] = {q, k, v};
        for (int t = 0; t < 3; t++) {
            lc_rng_fill_normal(f.data(), elems, 7 + t, 0, 0.f, 1.f, 0);
            lc_convert(h.data(), LC_BF16, f.data(), LC_F32, elems);
            CUDA_OK(cudaMemcpy(bufs[t], h.data(), elems * 2, cudaMemcpyHostToDevice));
        }
        lc_attention a = {};
        a.q = lc_tensor_bshd(q, LC_BF16, B, c.n, H, c.d), a.k = lc_tensor_bshd(k, LC_BF16, B, c.n, H, c.d);
        a.v = lc_tensor_bshd(v, LC_BF16, B, c.n, H, c.d), a.out = lc_tensor_bshd(o, LC_BF16, B, c.n, H, c.d), a.lse = lse;
        a.mask = c.window ? lc_mask_sliding_window(c.window) : c.causal ? lc_mask_causal() : lc_mask_full();
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
        const double pairs = c.window ? (double)lc_mask_count(&a.mask, c.n, c.n) : c.causal ? 0.5 * c.n * (double)c.n : (double)c.n * c.n;
        const double tflops = 4.0 * B * H * pairs * c.d / (ms * 1e-3) * 1e-12;
        results.push_back({c.n, c.d, c.causal, c.window, ms, tflops, ms_mma});
        char mask[24];
        snprintf(mask, sizeof mask, "%s", c.window ? "window 4096" : c.causal ? "causal" : "full");
        printf("%6d %4d %-12s %10.3f %9.1f %7.1f%% %14.1f\n", c.n, c.d, mask, ms, tflops, 100 * tflops / gemm, tflops * ms / ms_mma);
        fflush(stdout);
        cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o), cudaFree(lse), cudaFree(ws);
    }

    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"gpu_attention\",\n  \"device\": \"%s\",\n  \"gemm_bf16_tflops\": %.1f,\n  \"copy_tbps\": %.3f,\n  \"cases\": [\n",
            prop.name, gemm, copy);
    for (size_t i = 0; i < results.size(); i++) {
        const result &r = results[i];
        fprintf(f, "    {\"batch\": %d, \"heads\": %d, \"n\": %d, \"d\": %d, \"mask\": \"%s\", \"window\": %d, \"ms\": %.4f, \"tflops\": %.2f, \"ms_mma_sync\": %.4f}%s\n", B, H,
                r.n, r.d, r.window ? "window" : r.causal ? "causal" : "full", r.window, r.ms, r.tflops, r.ms_mma, i + 1 < results.size() ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
