// bench/gpu_decode: decode attention over long KV caches on the GPU (issue 6's shape: 8
// sequences x 128K cached tokens, 8 kv heads, 32 query heads, d = 128, one new token),
// contiguous and paged (16-token blocks placed in shuffled order), bf16 and int8, against
// the device-to-device copy bandwidth measured in the same run. Bytes are what a step must
// read: every kept K and V row (and int8 scales) once; the floor is bytes / copy rate.
//
//   gpu_decode [--n TOKENS] [--batch B] [--heads-kv H (query heads 4H)] [--d 64|128|256] [--json PATH]
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "gpu_timing.h"


// Random bits -> 16-bit values in [-2, 2) (bf16 or f16 by `half`), int8 in [-127, 127],
// scales in [0.01, 0.02): real data, not constants (METHOD.md).
__device__ uint32_t mix(uint64_t i, uint32_t seed) {
    uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)(z ^ (z >> 31));
}
__global__ void fill16(uint16_t *x, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float f = (float)(mix(i, seed) >> 8) * (4.0f / 16777216.0f) - 2.0f;
        uint32_t bits = __float_as_uint(f);
        x[i] = (uint16_t)(bits >> 16);  // bf16 by truncation
    }
}
__global__ void fill8(int8_t *x, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) x[i] = (int8_t)((int)(mix(i, seed) % 255) - 127);
}
__global__ void fill_scale(float *x, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) x[i] = 0.01f + (float)(mix(i, seed) % 1000) * 1e-5f;
}


struct result {
    const char *api, *layout, *dtype;
    int block;
    double ms, bytes, tbps;
};

int main(int argc, char **argv) {
    int N = 131072, B = 8, HKV = 8, D = 128;
    const char *json = "bench/results/gpu_decode.json";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) N = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--heads-kv") && i + 1 < argc) HKV = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) D = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: gpu_decode [--n TOKENS] [--batch B] [--heads-kv H] [--d 64|128|256] [--json PATH]\n");
            return 2;
        }
    }
    const int HQ = 4 * HKV;
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    fprintf(stderr, "gpu_decode on %s: copy ceiling...\n", prop.name);
    const double copy = copy_tbps();

    const size_t tokens = (size_t)B * N, row = (size_t)HKV * D;
    uint16_t *k16, *v16, *q;
    int8_t *k8, *v8;
    float *ks, *vs;
    void *out;
    int32_t *lens, *table_dev;
    CUDA_OK(cudaMalloc(&k16, tokens * row * 2));
    CUDA_OK(cudaMalloc(&v16, tokens * row * 2));
    CUDA_OK(cudaMalloc(&k8, tokens * row));
    CUDA_OK(cudaMalloc(&v8, tokens * row));
    CUDA_OK(cudaMalloc(&ks, tokens * HKV * 4));
    CUDA_OK(cudaMalloc(&vs, tokens * HKV * 4));
    CUDA_OK(cudaMalloc(&q, (size_t)B * HQ * D * 2));
    CUDA_OK(cudaMalloc(&out, (size_t)B * HQ * D * 2));
    fill16<<<1024, 256>>>(k16, tokens * row, 1), fill16<<<1024, 256>>>(v16, tokens * row, 2), fill16<<<64, 256>>>(q, (size_t)B * HQ * D, 3);
    fill8<<<1024, 256>>>(k8, tokens * row, 4), fill8<<<1024, 256>>>(v8, tokens * row, 5);
    fill_scale<<<256, 256>>>(ks, tokens * HKV, 6), fill_scale<<<256, 256>>>(vs, tokens * HKV, 7);
    CUDA_OK(cudaGetLastError());
    std::vector<int32_t> len_h(B, N);
    CUDA_OK(cudaMalloc(&lens, B * 4));
    CUDA_OK(cudaMemcpy(lens, len_h.data(), B * 4, cudaMemcpyHostToDevice));
    // paged: 16-token blocks, each sequence's blocks scattered over the pool
    const int bs = 16, max_blocks = (N + bs - 1) / bs;
    std::vector<int32_t> table((size_t)B * max_blocks);
    for (size_t i = 0; i < table.size(); i++) table[i] = (int32_t)i;
    uint64_t s = 12345;
    for (size_t i = table.size() - 1; i > 0; i--) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        std::swap(table[i], table[(s >> 33) % (i + 1)]);
    }
    CUDA_OK(cudaMalloc(&table_dev, table.size() * 4));
    CUDA_OK(cudaMemcpy(table_dev, table.data(), table.size() * 4, cudaMemcpyHostToDevice));

    std::vector<result> results;
    printf("decode: %d seqs x %d tokens, %d kv / %d q heads, d=%d, 1 new token; %s, copy %.2f TB/s (read + write)\n", B, N, HKV, HQ, D, prop.name, copy);
    printf("%-12s %-10s %-5s %5s %9s %10s %8s %7s\n", "api", "layout", "dtype", "block", "ms", "GB read", "TB/s", "%copy");
    auto report = [&](const char *api, const char *layout, const char *dtype, int block, double ms, double bytes) {
        const double tbps = bytes / (ms * 1e-3) * 1e-12;
        results.push_back({api, layout, dtype, block, ms, bytes, tbps});
        printf("%-12s %-10s %-5s %5d %9.3f %10.2f %8.2f %6.1f%%\n", api, layout, dtype, block, ms, bytes * 1e-9, tbps, 100 * tbps / copy);
        fflush(stdout);
    };

    // contiguous and paged, bf16 and int8, through the one descriptor
    for (int paged = 0; paged < 2; paged++)
        for (int int8 = 0; int8 < 2; int8++) {
            lc_cuda_decode d = {};
            d.cache.layout = paged ? LC_KV_PAGED : LC_KV_CONTIGUOUS, d.cache.dtype = int8 ? LC_INT8 : LC_BF16;
            d.cache.heads_kv = HKV, d.cache.head_dim = D, d.cache.max_seqs = B, d.cache.capacity = N;
            d.cache.block_size = bs, d.cache.num_blocks = (int64_t)B * max_blocks;
            d.k = int8 ? (const void *)k8 : k16, d.v = int8 ? (const void *)v8 : v16;
            d.k_scale = ks, d.v_scale = vs, d.block_table = table_dev;
            d.batch = B, d.lens = lens, d.max_len = N, d.q = q, d.q_dtype = LC_BF16, d.n_q = 1, d.heads_q = HQ, d.out = out, d.out_dtype = LC_BF16;
            d.mask = lc_mask_causal();
            const size_t wsb = lc_cuda_decode_workspace_size(&d);
            void *ws;
            CUDA_OK(cudaMalloc(&ws, wsb ? wsb : 16));
            if (lc_cuda_decode_attention(&d, ws, wsb, 0) != LC_OK) {
                fprintf(stderr, "decode failed: %s\n", lc_last_error());
                return 1;
            }
            const double bytes = 2.0 * tokens * row * (int8 ? 1 : 2) + (int8 ? 2.0 * tokens * HKV * 4 : 0);
            report("decode", paged ? "paged" : "contiguous", int8 ? "int8" : "bf16", paged ? bs : 0, time_ms([&] { lc_cuda_decode_attention(&d, ws, wsb, 0); }), bytes);
            cudaFree(ws);
        }
    CUDA_OK(cudaGetLastError());

    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"gpu_decode\",\n  \"device\": \"%s\",\n  \"copy_tbps\": %.3f,\n", prop.name, copy);
    fprintf(f, "  \"batch\": %d, \"n_kv\": %d, \"heads_kv\": %d, \"heads_q\": %d, \"d\": %d,\n  \"cases\": [\n", B, N, HKV, HQ, D);
    for (size_t i = 0; i < results.size(); i++) {
        const result &r = results[i];
        fprintf(f, "    {\"api\": \"%s\", \"layout\": \"%s\", \"dtype\": \"%s\", \"block\": %d, \"ms\": %.4f, \"bytes\": %.0f, \"tbps\": %.3f, \"of_copy\": %.3f}%s\n", r.api,
                r.layout, r.dtype, r.block, r.ms, r.bytes, r.tbps, r.tbps / copy, i + 1 < results.size() ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
