// Ring attention across GPUs: time per token against the ring size P at a fixed length per
// GPU (weak scaling), and each GPU's throughput against the single-GPU flash kernel. The
// peer is lc_cuda_attention_flash over the whole sequence of P * n_local tokens on one GPU,
// measured in the same run: the ideal ring takes 1/P of its time, and a GPU of the ring
// should reach its TFLOP/s. bf16, batch 1, 16 heads, d = 128; full mask with the
// contiguous layout, causal with zigzag. One process, one thread per GPU.
//
//   gpu_ring [--quick] [--n-local N] [--json PATH]
#include <algorithm>

#include "ring_run.cuh"
#include "gpu_args.h"

__global__ void fill_bf16(uint16_t *x, size_t n, uint32_t salt) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ salt;
        h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
        float f = ((float)(h & 0xffff) / 32768.f - 1.f); // uniform in [-1, 1)
        uint32_t bits;
        memcpy(&bits, &f, 4);
        x[i] = (uint16_t)(bits >> 16);
    }
}

static void *random_bf16(size_t n, uint32_t salt) {
    void *p;
    CUDA_OK(cudaMalloc(&p, n * 2));
    fill_bf16<<<1024, 256>>>((uint16_t *)p, n, salt);
    CUDA_OK(cudaGetLastError());
    return p;
}

struct row {
    const char *mask;
    int P, n_local;
    double ring_ms, ns_per_token, ring_tflops, single_ms, single_tflops, speedup, wait_ms;
};

static const int H = 16, D = 128;

// One flash attention over the whole sequence on GPU 0; best of reps, in ms.
static double single_gpu_ms(int64_t N, lc_mask m, int reps) {
    CUDA_OK(cudaSetDevice(0));
    const size_t el = (size_t)N * H * D;
    lc_attention a = {};
    a.q = lc_tensor_bshd(random_bf16(el, 1), LC_BF16, 1, N, H, D), a.k = lc_tensor_bshd(random_bf16(el, 2), LC_BF16, 1, N, H, D);
    a.v = lc_tensor_bshd(random_bf16(el, 3), LC_BF16, 1, N, H, D), a.out = lc_tensor_bshd(random_bf16(el, 4), LC_BF16, 1, N, H, D);
    CUDA_OK(cudaMalloc(&a.lse, sizeof(float) * (size_t)(H * N)));
    a.mask = m;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    double best = 1e30;
    for (int t = 0; t <= reps; t++) { // the first run warms up
        cudaEventRecord(e0);
        if (lc_cuda_attention_flash(&a, NULL, 0, 0)) {
            fprintf(stderr, "flash: %s\n", lc_last_error());
            exit(1);
        }
        cudaEventRecord(e1);
        CUDA_OK(cudaEventSynchronize(e1));
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (t) best = std::min(best, (double)ms);
    }
    for (void *p : {a.q.data, a.k.data, a.v.data, a.out.data, (void *)a.lse}) cudaFree(p);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return best;
}

int main(int argc, char **argv) {
    int quick = 0, only_n = 0;
    const char *json = NULL; // written only when asked
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--n-local") && i + 1 < argc) {
            if ((rc = gpu_arg_int("gpu_ring", "--n-local", argv[++i], 1, 1 << 24, &only_n))) return rc;
        }
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: gpu_ring [--quick] [--n-local N] [--json PATH]\n");
            return 2;
        }
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fprintf(stderr, "gpu_ring: no CUDA device\n");
        return 77;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %d x %s; bf16, batch 1, %d heads, d=%d; ring: one thread per GPU, NCCL send/recv\n", devices, prop.name, H, D);
    printf("%-7s %2s %7s %9s %9s %11s %10s %12s %10s %8s\n", "mask", "P", "n_local", "ring ms", "ns/token", "ring TF/GPU", "1-GPU ms",
           "1-GPU TF/s", "speedup", "wait ms");
    const int reps = quick ? 3 : 5;
    std::vector<int> lengths = quick ? std::vector<int>{8192} : std::vector<int>{8192, 32768};
    if (only_n) lengths = {only_n};
    std::vector<row> rows;
    for (int n_local : lengths)
        for (int causal = 0; causal <= 1; causal++)
            for (int P = 1; P <= devices; P++) {
                const lc_ring_layout layout = causal ? LC_RING_ZIGZAG : LC_RING_CONTIGUOUS;
                const lc_mask m = causal ? lc_mask_causal() : lc_mask_full();
                const int64_t N = (int64_t)P * n_local;
                fprintf(stderr, "%s P=%d n_local=%d...\n", causal ? "causal" : "full", P, n_local);
                std::vector<gpu_rank> rk = ring_open(P);
                std::vector<rank_job> jobs(P);
                const size_t el = (size_t)n_local * H * D;
                for (int r = 0; r < P; r++) {
                    CUDA_OK(cudaSetDevice(r));
                    lc_attention &a = jobs[r].attn;
                    a = lc_attention{};
                    a.q = lc_tensor_bshd(random_bf16(el, 10 * r + 1), LC_BF16, 1, n_local, H, D);
                    a.k = lc_tensor_bshd(random_bf16(el, 10 * r + 2), LC_BF16, 1, n_local, H, D);
                    a.v = lc_tensor_bshd(random_bf16(el, 10 * r + 3), LC_BF16, 1, n_local, H, D);
                    a.out = lc_tensor_bshd(random_bf16(el, 10 * r + 4), LC_BF16, 1, n_local, H, D);
                    a.mask = m;
                    CUDA_OK(cudaDeviceSynchronize());
                }
                ring_run(rk, jobs, layout, reps + 1);
                double ring_s = 0, wait_s = 0, pairs = 0;
                for (int r = 0; r < P; r++) {
                    if (jobs[r].st) {
                        fprintf(stderr, "rank %d: %s\n", r, jobs[r].err);
                        return 1;
                    }
                    ring_s = std::max(ring_s, jobs[r].seconds);
                    wait_s = std::max(wait_s, jobs[r].stats.wait_s);
                    pairs = std::max(pairs, (double)jobs[r].stats.pairs);
                    CUDA_OK(cudaSetDevice(r));
                    for (void *p : {jobs[r].attn.q.data, jobs[r].attn.k.data, jobs[r].attn.v.data, jobs[r].attn.out.data}) cudaFree(p);
                }
                ring_close(rk);
                const double single_ms = single_gpu_ms(N, m, reps);
                const double all_pairs = (double)lc_mask_count(&m, N, N) * H;
                row x = {causal ? "causal" : "full", P, n_local, 1e3 * ring_s, 1e9 * ring_s / (double)N,
                         4.0 * D * pairs / ring_s * 1e-12, // the busiest GPU's pairs
                         single_ms, 4.0 * D * all_pairs / (single_ms * 1e-3) * 1e-12, single_ms / (1e3 * ring_s), 1e3 * wait_s};
                rows.push_back(x);
                printf("%-7s %2d %7d %9.3f %9.3f %11.1f %10.3f %12.1f %9.2fx %8.3f\n", x.mask, x.P, x.n_local, x.ring_ms, x.ns_per_token, x.ring_tflops,
                       x.single_ms, x.single_tflops, x.speedup, x.wait_ms);
                fflush(stdout);
            }
    if (!json) return 0;
    FILE *f = fopen(json, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    fprintf(f, "{\n  \"device\": \"%d x %s\",\n  \"heads\": %d, \"d\": %d, \"dtype\": \"bf16\",\n  \"rows\": [\n", devices, prop.name, H, D);
    for (size_t i = 0; i < rows.size(); i++) {
        const row &x = rows[i];
        fprintf(f,
                "    {\"mask\": \"%s\", \"P\": %d, \"n_local\": %d, \"ring_ms\": %.4f, \"ns_per_token\": %.4f, \"ring_tflops_per_gpu\": %.2f, "
                "\"single_gpu_ms\": %.4f, \"single_gpu_tflops\": %.2f, \"speedup\": %.3f, \"wait_ms\": %.4f}%s\n",
                x.mask, x.P, x.n_local, x.ring_ms, x.ns_per_token, x.ring_tflops, x.single_ms, x.single_tflops, x.speedup, x.wait_ms,
                i + 1 < rows.size() ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    fprintf(stderr, "wrote %s\n", json);
    return 0;
}
