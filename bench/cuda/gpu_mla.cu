// gpu_mla: MLA decode over the latent cache on the GPU (DeepSeek-V2/V3's shapes: rank 512,
// rope 64, nope 128, v 128; bf16 latents in 64-token pages placed in shuffled order), against
// the device-to-device copy bandwidth and the cuBLAS bf16 GEMM rate measured in the same run.
//
// "core" is the absorbed call (lc_cuda_mla.absorbed = 1: q_lat in, o_lat out, as FlashMLA's
// interface): its floor is the latent bytes (every cached token's 1152 bytes, once) at the copy
// rate, or its FLOPs, 2 (576 + 512) per query row and visible key, at the GEMM rate, whichever is
// longer. "full" is the same call with W_UK and W_UV applied in it (lc_cuda_mla.absorbed = 0),
// which also reads the two f32 weights (2 heads 128 512 4 bytes). Caches smaller than 256 MB
// are replicated and the runs rotate over the copies, so that no run finds its latents in L2.
// The cases are tests/cases/mla_cases.c's (MLA_BENCH_GPU, then MLA_BENCH_GPU_SPLITS with
// forced splits). The peer, PyTorch SDPA on the decompressed heads, is bench/gpu_mla_peers.py.
//
//   gpu_mla [--quick] [--json PATH]
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <algorithm>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "gemm_ceiling.h"
#include "gpu_timing.h"
#include "mla_cases.h"

static const int R = 512, P = 64, W = R + P;

// Random bits -> bf16 in [-2, 2) and f32 in [-a, a): real data, not constants.
__device__ uint32_t mix(uint64_t i, uint32_t seed) {
    uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)(z ^ (z >> 31));
}
__global__ void fill_bf16(uint16_t *x, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float f = (float)(mix(i, seed) >> 8) * (4.0f / 16777216.0f) - 2.0f;
        x[i] = (uint16_t)(__float_as_uint(f) >> 16);
    }
}
__global__ void fill_f32(float *x, size_t n, uint32_t seed, float a) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = ((float)(mix(i, seed) >> 8) * (2.0f / 16777216.0f) - 1.0f) * a;
}
template <typename T> static T *device_alloc(size_t n) {
    T *p;
    CUDA_OK(cudaMalloc(&p, n * sizeof(T) + 16));
    return p;
}

struct result {
    mla_case c;
    int splits;  // the plan's (read back from its workspace), or the forced count
    double ms_core, ms_full, bytes, flops, tbps, tflops;
};

// The split the plan chose for an absorbed call, from its workspace: 16 bytes for one split,
// else the partials, (512 + 1) floats per split and query row, each part rounded up to 256.
static int plan_split_of(size_t ws, const mla_case &c) {
    if (ws <= 16) return 1;
    const double per = (double)c.batch * c.n_q * c.heads * (R + 1) * 4.0;
    return (int)(ws / per + 0.5) > 0 ? (int)(ws / per + 0.5) : 1;
}

int main(int argc, char **argv) {
    int quick = 0;
    const char *json = NULL;  // written only when asked
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: gpu_mla [--quick] [--json PATH]\n");
            return 2;
        }
    }
    int n_cases, n_sweep;
    mla_case *cases = mla_cases_select(MLA_BENCH_GPU, quick ? CASE_QUICK : CASE_FULL, &n_cases);
    mla_case *sweep = mla_cases_select(MLA_BENCH_GPU_SPLITS, quick ? CASE_QUICK : CASE_FULL, &n_sweep);
    if (!cases || !sweep || n_cases == 0) {
        fprintf(stderr, "gpu_mla: no cases\n");
        return 1;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    fprintf(stderr, "gpu_mla on %s: ceilings...\n", prop.name);
    const double copy = copy_tbps(), gemm = gemm_tflops();
    printf("MLA decode, rank 512 + rope 64, nope 128, v 128, bf16 latents in 64-token pages; %s, copy %.2f TB/s (read + write), cuBLAS bf16 GEMM %.0f TFLOP/s\n",
           prop.name, copy, gemm);
    printf("%5s %5s %3s %7s %5s | %9s %8s %7s %6s %8s %6s %6s | %9s\n", "batch", "heads", "n_q", "tokens", "split", "core ms", "GB", "TB/s", "%copy", "TFLOP/s",
           "%gemm", "%floor", "full ms");
    std::vector<result> results;

    // one case: forced = -1 runs the core and the full call with the plan's split; else only
    // the core with that many splits
    auto measure = [&](const mla_case &c, int forced) -> bool {
        const int B = c.batch, H = c.heads, NQ = c.n_q, N = c.nope, DV = c.v_dim, bs = c.block_size;
        const int64_t len = c.len, max_blocks = (len + bs - 1) / bs;
        const size_t slots = (size_t)B * max_blocks * bs, lat_elems = slots * W;
        const double bytes = (double)B * len * W * 2;
        const int copies = (int)std::min<double>(64, std::max<double>(1, (256.0 * (1 << 20)) / bytes + 0.999));
        std::vector<uint16_t *> lat(copies);
        for (int k = 0; k < copies; k++) {
            lat[k] = device_alloc<uint16_t>(lat_elems);
            fill_bf16<<<1024, 256>>>(lat[k], lat_elems, 11 + k);
        }
        std::vector<int32_t> table((size_t)B * max_blocks);
        for (size_t j = 0; j < table.size(); j++) table[j] = (int32_t)j;
        uint64_t s = 12345;
        for (size_t j = table.size() - 1; j > 0; j--) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            std::swap(table[j], table[(s >> 33) % (j + 1)]);
        }
        int32_t *table_dev = device_alloc<int32_t>(table.size());
        CUDA_OK(cudaMemcpy(table_dev, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
        const size_t rows = (size_t)B * NQ * H;
        float *q_lat = device_alloc<float>(rows * R), *q_nope = device_alloc<float>(rows * N), *q_rope = device_alloc<float>(rows * P);
        float *o_lat = device_alloc<float>(rows * R), *out = device_alloc<float>(rows * DV);
        float *w_uk = device_alloc<float>((size_t)H * N * R), *w_uv = device_alloc<float>((size_t)H * DV * R);
        fill_f32<<<256, 256>>>(q_lat, rows * R, 1, 0.35f), fill_f32<<<256, 256>>>(q_nope, rows * N, 2, 1.f), fill_f32<<<256, 256>>>(q_rope, rows * P, 3, 1.f);
        fill_f32<<<1024, 256>>>(w_uk, (size_t)H * N * R, 4, 0.0442f), fill_f32<<<1024, 256>>>(w_uv, (size_t)H * DV * R, 5, 0.0442f);
        CUDA_OK(cudaGetLastError());

        lc_mla m = {};
        m.heads = H, m.rank = R, m.nope = N, m.rope = P, m.v_dim = DV, m.dtype = c.dtype, m.w_uk = w_uk, m.w_uv = w_uv;
        lc_cuda_mla core = {};
        core.mla = &m, core.layout = LC_KV_PAGED, core.latent = lat[0], core.capacity = len, core.block_table = table_dev, core.block_size = bs;
        core.num_blocks = (int64_t)B * max_blocks, core.batch = B, core.max_len = len, core.q_nope = q_lat, core.q_rope = q_rope, core.n_q = NQ;
        core.out = o_lat, core.absorbed = 1, core.splits = forced > 0 ? forced : 0;
        lc_cuda_mla full = core;
        full.q_nope = q_nope, full.out = out, full.absorbed = 0;
        const size_t ws_core = lc_cuda_mla_decode_workspace_size(&core), ws_full = lc_cuda_mla_decode_workspace_size(&full);
        void *ws = device_alloc<char>(std::max(ws_core, ws_full));
        bool ok = ws_core > 0 && ws_full > 0 && lc_cuda_mla_decode(&core, ws, ws_core, 0) == LC_OK && lc_cuda_mla_decode(&full, ws, ws_full, 0) == LC_OK;
        if (!ok) fprintf(stderr, "gpu_mla: B=%d H=%d n=%lld: %s\n", B, H, (long long)len, lc_last_error());
        CUDA_OK(cudaDeviceSynchronize());
        if (ok) {
            int turn = 0;
            result r = {};
            r.c = c, r.splits = forced > 0 ? forced : plan_split_of(ws_core, c);
            r.ms_core = time_ms([&] {
                core.latent = lat[turn++ % copies];
                lc_cuda_mla_decode(&core, ws, ws_core, 0);
            });
            r.ms_full = forced > 0 ? 0 : time_ms([&] {
                full.latent = lat[turn++ % copies];
                lc_cuda_mla_decode(&full, ws, ws_full, 0);
            });
            CUDA_OK(cudaGetLastError());
            double pairs = 0;  // query rows x visible keys
            for (int i = 0; i < NQ; i++) pairs += (double)B * H * (len - NQ + i + 1);
            r.bytes = bytes, r.flops = 2.0 * (W + R) * pairs;
            r.tbps = bytes / (r.ms_core * 1e-3) * 1e-12, r.tflops = r.flops / (r.ms_core * 1e-3) * 1e-12;
            const double floor_ms = std::max(bytes / (copy * 1e12), r.flops / (gemm * 1e12)) * 1e3;
            results.push_back(r);
            char full_ms[32] = "-";
            if (forced <= 0) snprintf(full_ms, sizeof full_ms, "%.3f", r.ms_full);
            printf("%5d %5d %3d %7lld %5d | %9.3f %8.3f %7.2f %5.1f%% %8.1f %5.1f%% %5.1f%% | %9s\n", B, H, NQ, (long long)len, r.splits, r.ms_core, bytes * 1e-9,
                   r.tbps, 100 * r.tbps / copy, r.tflops, 100 * r.tflops / gemm, 100 * floor_ms / r.ms_core, full_ms);
            fflush(stdout);
        }
        for (int k = 0; k < copies; k++) cudaFree(lat[k]);
        cudaFree(table_dev), cudaFree(q_lat), cudaFree(q_nope), cudaFree(q_rope), cudaFree(o_lat), cudaFree(out), cudaFree(w_uk), cudaFree(w_uv), cudaFree(ws);
        return ok;
    };

    int rc = 0;
    for (int i = 0; i < n_cases && !rc; i++)
        if (!measure(cases[i], -1)) rc = 1;
    if (n_sweep && !rc) printf("the split forced (core):\n");
    for (int i = 0; i < n_sweep && !rc; i++) {
        static const int forced[] = {1, 4, 16, 64, 256};
        for (int k = 0; k < 5 && !rc; k++)
            if (forced[k] <= sweep[i].len / 64)
                if (!measure(sweep[i], forced[k])) rc = 1;
    }
    free(cases), free(sweep);
    if (rc) return rc;  // a failed case: nothing written

    if (!json) return 0;
    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"benchmark\": \"gpu_mla\",\n  \"device\": \"%s\",\n  \"copy_tbps\": %.3f,\n  \"gemm_tflops\": %.1f,\n", prop.name, copy, gemm);
    fprintf(f, "  \"rank\": 512, \"rope\": 64, \"nope\": 128, \"v_dim\": 128, \"dtype\": \"bf16\", \"block\": 64,\n  \"cases\": [\n");
    for (size_t i = 0; i < results.size(); i++) {
        const result &r = results[i];
        fprintf(f,
                "    {\"batch\": %d, \"heads\": %d, \"n_q\": %d, \"tokens\": %lld, \"splits\": %d, \"forced\": %d, \"core_ms\": %.4f, \"full_ms\": %.4f, \"bytes\": %.0f, "
                "\"flops\": %.0f, \"tbps\": %.3f, \"of_copy\": %.3f, \"tflops\": %.1f, \"of_gemm\": %.3f}%s\n",
                r.c.batch, r.c.heads, r.c.n_q, (long long)r.c.len, r.splits, r.ms_full == 0, r.ms_core, r.ms_full, r.bytes, r.flops, r.tbps, r.tbps / copy, r.tflops,
                r.tflops / gemm, i + 1 < results.size() ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
