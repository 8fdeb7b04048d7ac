// gpu_decode: decode attention over long KV caches on the GPU (by default 8 sequences x 128K
// cached tokens, 8 kv heads, 32 query heads, d = 128, one new token),
// contiguous and paged (16-token blocks placed in shuffled order), bf16 and int8, against
// the device-to-device copy bandwidth measured in the same run. Bytes are what a step must
// read: every kept K and V row (and int8 scales) once; the floor is bytes / copy rate.
//
// The cases are tests/cases/decode_cases.c's (DECODE_BENCH_GPU); the options replace their
// shape.
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
#include "decode_cases.h"
#include "gpu_args.h"
#include "gpu_timing.h"

// Random bits -> bf16 values in [-2, 2), int8 in [-127, 127],
// scales in [0.01, 0.02): real data, not constants.
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
    int N = 0, B = 0, HKV = 0, D = 0;  // 0: the table's
    const char *json = NULL; // written only when asked
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) rc = gpu_arg_int("gpu_decode", "--n", argv[++i], 1, 1 << 26, &N);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) rc = gpu_arg_int("gpu_decode", "--batch", argv[++i], 1, 1024, &B);
        else if (!strcmp(argv[i], "--heads-kv") && i + 1 < argc) rc = gpu_arg_int("gpu_decode", "--heads-kv", argv[++i], 1, 256, &HKV);
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) rc = gpu_arg_int("gpu_decode", "--d", argv[++i], 64, 256, &D);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: gpu_decode [--n TOKENS] [--batch B] [--heads-kv H] [--d 64|128|256] [--json PATH]\n");
            return 2;
        }
    }
    if (rc) return rc;
    if (D != 64 && D != 128 && D != 256) return fprintf(stderr, "gpu_decode: --d must be 64, 128 or 256; got %d\n", D), 2;
    // the table's cases (tests/cases/decode_cases.c), the command line's shape over theirs
    int n_cases;
    decode_case *cases = decode_cases_select(DECODE_BENCH_GPU, CASE_FULL, NULL, &n_cases);
    if (!cases || n_cases == 0) {
        fprintf(stderr, "gpu_decode: no cases\n");
        return 1;
    }
    for (int i = 0; i < n_cases; i++) {
        decode_case &c = cases[i];
        if (N) c.len = N;
        if (B) c.batch = B;
        if (HKV) c.heads_kv = HKV;
        if (D) c.head_dim = D;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    fprintf(stderr, "gpu_decode on %s: copy ceiling...\n", prop.name);
    const double copy = copy_tbps();

    const decode_case &first = cases[0];  // the table's cases share one shape
    std::vector<result> results;
    printf("decode: %d seqs x %lld tokens, %d kv / %d q heads, d=%d, %d new token; %s, copy %.2f TB/s (read + write)\n", first.batch, (long long)first.len,
           first.heads_kv, first.heads_kv * first.group, first.head_dim, first.n_q, prop.name, copy);
    printf("%-12s %-10s %-5s %5s %9s %10s %8s %7s\n", "api", "layout", "dtype", "block", "ms", "GB read", "TB/s", "%copy");
    auto report = [&](const char *api, const char *layout, const char *dtype, int block, double ms, double bytes) {
        const double tbps = bytes / (ms * 1e-3) * 1e-12;
        results.push_back({api, layout, dtype, block, ms, bytes, tbps});
        printf("%-12s %-10s %-5s %5d %9.3f %10.2f %8.2f %6.1f%%\n", api, layout, dtype, block, ms, bytes * 1e-9, tbps, 100 * tbps / copy);
        fflush(stdout);
    };

    for (int i = 0; i < n_cases; i++) {
        const decode_case &c = cases[i];
        const int Bc = c.batch, HKVc = c.heads_kv, HQ = c.heads_kv * c.group, Dc = c.head_dim, Nc = (int)c.len, bs = c.block_size;
        const bool paged = c.layout == LC_KV_PAGED, int8 = c.dtype == LC_INT8;
        const size_t tokens = (size_t)Bc * Nc, row = (size_t)HKVc * Dc, esz = lc_dtype_size(c.dtype);
        void *k, *v, *q, *out;
        float *ks = NULL, *vs = NULL;
        int32_t *lens, *table_dev = NULL;
        CUDA_OK(cudaMalloc(&k, tokens * row * esz));
        CUDA_OK(cudaMalloc(&v, tokens * row * esz));
        CUDA_OK(cudaMalloc(&q, (size_t)Bc * c.n_q * HQ * Dc * lc_dtype_size(c.q_dtype)));
        CUDA_OK(cudaMalloc(&out, (size_t)Bc * c.n_q * HQ * Dc * lc_dtype_size(c.out_dtype)));
        if (int8) {
            CUDA_OK(cudaMalloc(&ks, tokens * HKVc * 4));
            CUDA_OK(cudaMalloc(&vs, tokens * HKVc * 4));
            fill8<<<1024, 256>>>((int8_t *)k, tokens * row, 4), fill8<<<1024, 256>>>((int8_t *)v, tokens * row, 5);
            fill_scale<<<256, 256>>>(ks, tokens * HKVc, 6), fill_scale<<<256, 256>>>(vs, tokens * HKVc, 7);
        } else {
            fill16<<<1024, 256>>>((uint16_t *)k, tokens * row, 1), fill16<<<1024, 256>>>((uint16_t *)v, tokens * row, 2);
        }
        fill16<<<64, 256>>>((uint16_t *)q, (size_t)Bc * c.n_q * HQ * Dc, 3);
        CUDA_OK(cudaGetLastError());
        std::vector<int32_t> len_h(Bc, Nc);
        CUDA_OK(cudaMalloc(&lens, Bc * 4));
        CUDA_OK(cudaMemcpy(lens, len_h.data(), Bc * 4, cudaMemcpyHostToDevice));
        // paged: each sequence's blocks scattered over the pool
        const int max_blocks = (Nc + bs - 1) / bs;
        if (paged) {
            std::vector<int32_t> table((size_t)Bc * max_blocks);
            for (size_t j = 0; j < table.size(); j++) table[j] = (int32_t)j;
            uint64_t s = 12345;
            for (size_t j = table.size() - 1; j > 0; j--) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                std::swap(table[j], table[(s >> 33) % (j + 1)]);
            }
            CUDA_OK(cudaMalloc(&table_dev, table.size() * 4));
            CUDA_OK(cudaMemcpy(table_dev, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
        }

        lc_cuda_decode d = {};
        d.cache.layout = c.layout, d.cache.dtype = c.dtype;
        d.cache.heads_kv = HKVc, d.cache.head_dim = Dc, d.cache.max_seqs = Bc, d.cache.capacity = Nc;
        d.cache.block_size = bs, d.cache.num_blocks = paged ? (int64_t)Bc * max_blocks : 0;
        d.k = k, d.v = v, d.k_scale = ks, d.v_scale = vs, d.block_table = table_dev;
        d.batch = Bc, d.lens = lens, d.max_len = Nc, d.q = q, d.q_dtype = c.q_dtype, d.n_q = c.n_q, d.heads_q = HQ, d.out = out, d.out_dtype = c.out_dtype;
        d.mask = decode_case_mask(&c), d.softcap = c.softcap, d.splits = (int)c.split;
        const size_t wsb = lc_cuda_decode_workspace_size(&d);
        void *ws;
        CUDA_OK(cudaMalloc(&ws, wsb ? wsb : 16));
        if (lc_cuda_decode_attention(&d, ws, wsb, 0) != LC_OK) {
            fprintf(stderr, "decode failed: %s\n", lc_last_error());
            return 1;
        }
        const double bytes = 2.0 * tokens * row * esz + (int8 ? 2.0 * tokens * HKVc * 4 : 0);
        report("decode", paged ? "paged" : "contiguous", lc_dtype_name(c.dtype), paged ? bs : 0, time_ms([&] { lc_cuda_decode_attention(&d, ws, wsb, 0); }), bytes);
        CUDA_OK(cudaGetLastError());
        cudaFree(ws), cudaFree(k), cudaFree(v), cudaFree(q), cudaFree(out), cudaFree(lens);
        if (ks) cudaFree(ks), cudaFree(vs);
        if (table_dev) cudaFree(table_dev);
    }

    if (!json) return 0;
    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"gpu_decode\",\n  \"device\": \"%s\",\n  \"copy_tbps\": %.3f,\n", prop.name, copy);
    fprintf(f, "  \"batch\": %d, \"n_kv\": %lld, \"heads_kv\": %d, \"heads_q\": %d, \"d\": %d,\n  \"cases\": [\n", first.batch, (long long)first.len,
            first.heads_kv, first.heads_kv * first.group, first.head_dim);
    for (size_t i = 0; i < results.size(); i++) {
        const result &r = results[i];
        fprintf(f, "    {\"api\": \"%s\", \"layout\": \"%s\", \"dtype\": \"%s\", \"block\": %d, \"ms\": %.4f, \"bytes\": %.0f, \"tbps\": %.3f, \"of_copy\": %.3f}%s\n", r.api,
                r.layout, r.dtype, r.block, r.ms, r.bytes, r.tbps, r.tbps / copy, i + 1 < results.size() ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    free(cases);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
