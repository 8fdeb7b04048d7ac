// Ring attention across GPUs (longctx/ring_cuda.h: CUDA compute + NCCL transport) against
// one lc_cuda_attention_flash of the whole sequence on GPU 0, on fresh random inputs: both
// layouts, full / causal / sliding-window masks, awkward lengths, GQA, head dims 64 and
// 128, bf16 and f16. Outputs are poisoned (NaN) first, so a row the ring fails to write
// fails. Then the refusals: every rank must return the same error. test_gpu_ring: one
// process, one thread per GPU (ncclCommInitAll), rings of 1 GPU and of every GPU;
// test_gpu_ring_mpi (built with MPI): one process per GPU, one ring of all processes.
// No GPU: exit 77.
//
//   test_gpu_ring [--quick] [--seed S] [--gpus P]
//   mpirun -np P test_gpu_ring_mpi [--quick] [--seed S]
#include <math.h>
#include <time.h>

#include "ring_run.cuh"

#include "gpu_check.h"

struct ring_case {
    int b, n_local, hq, hkv, d;
    lc_dtype t;
    lc_mask mask;
    lc_ring_layout layout;
};

static const char *mask_name(const lc_mask &m, char *buf, size_t n) {
    snprintf(buf, n, "%s%s left=%lld", m.causal ? "causal" : "full", m.window.enabled ? "+window" : "", (long long)m.window.left);
    return buf;
}

static void *to_device(int dev, const void *host, size_t bytes) {
    void *p;
    CUDA_OK(cudaSetDevice(dev));
    CUDA_OK(cudaMalloc(&p, bytes));
    if (host) CUDA_OK(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    else CUDA_OK(cudaMemset(p, 0xff, bytes)); // poison: NaN
    return p;
}

static std::vector<uint8_t> random_tensor(lc_dtype t, size_t n, uint64_t seed, uint64_t *counter) {
    std::vector<float> f(n);
    lc_rng_fill_normal(f.data(), n, seed, *counter, 0.f, 1.f, 0);
    *counter += n;
    std::vector<uint8_t> out(n * lc_dtype_size(t));
    lc_convert(out.data(), t, f.data(), LC_F32, n);
    return out;
}

// Runs one case; every local rank's rows must match the reference, which each process
// computes on its first GPU. Returns 1 when they do.
static int compare(std::vector<gpu_rank> &rk, const ring_case &c, uint64_t seed, uint64_t *counter) {
    const int P = rk[0].size, L = (int)rk.size();
    const int64_t N = (int64_t)P * c.n_local, B = c.b;
    const size_t es = lc_dtype_size(c.t), nq = (size_t)(B * N * c.hq * c.d), nk = (size_t)(B * N * c.hkv * c.d), rows = (size_t)(B * c.hq * N);
    std::vector<uint8_t> q = random_tensor(c.t, nq, seed, counter), k = random_tensor(c.t, nk, seed, counter), v = random_tensor(c.t, nk, seed, counter);

    // the reference: one flash attention of the whole sequence on one GPU
    const int d0 = rk[0].dev;
    lc_attention ref = {};
    ref.q = lc_tensor_bshd(to_device(d0, q.data(), q.size()), c.t, B, N, c.hq, c.d);
    ref.k = lc_tensor_bshd(to_device(d0, k.data(), k.size()), c.t, B, N, c.hkv, c.d);
    ref.v = lc_tensor_bshd(to_device(d0, v.data(), v.size()), c.t, B, N, c.hkv, c.d);
    ref.out = lc_tensor_bshd(to_device(d0, NULL, nq * es), c.t, B, N, c.hq, c.d);
    ref.lse = (float *)to_device(d0, NULL, rows * sizeof(float));
    ref.mask = c.mask;
    lc_status st = lc_cuda_attention_flash(&ref, NULL, 0, 0);
    CHECK(st == LC_OK, "reference flash: %s", lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<uint8_t> want_raw(nq * es);
    std::vector<float> lse_want(rows);
    CUDA_OK(cudaMemcpy(want_raw.data(), ref.out.data, want_raw.size(), cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(lse_want.data(), ref.lse, rows * sizeof(float), cudaMemcpyDeviceToHost));
    for (void *p : {ref.q.data, ref.k.data, ref.v.data, ref.out.data, (void *)ref.lse}) cudaFree(p);

    // the ring: each GPU gets its slice
    std::vector<rank_job> jobs(L);
    const size_t sq = nq / P * es, sk = nk / P * es, srows = rows / P, sq_n = nq / P;
    std::vector<uint8_t> slice(sq), want_slice(sq);
    for (int i = 0; i < L; i++) {
        const int r = rk[i].rank, dev = rk[i].dev;
        lc_attention &a = jobs[i].attn;
        a = lc_attention{};
        ring_scatter(q.data(), slice.data(), es, B, N, c.hq, c.d, c.layout, P, r, 1);
        a.q = lc_tensor_bshd(to_device(dev, slice.data(), sq), c.t, B, c.n_local, c.hq, c.d);
        ring_scatter(k.data(), slice.data(), es, B, N, c.hkv, c.d, c.layout, P, r, 1);
        a.k = lc_tensor_bshd(to_device(dev, slice.data(), sk), c.t, B, c.n_local, c.hkv, c.d);
        ring_scatter(v.data(), slice.data(), es, B, N, c.hkv, c.d, c.layout, P, r, 1);
        a.v = lc_tensor_bshd(to_device(dev, slice.data(), sk), c.t, B, c.n_local, c.hkv, c.d);
        a.out = lc_tensor_bshd(to_device(dev, NULL, sq), c.t, B, c.n_local, c.hq, c.d);
        a.lse = (float *)to_device(dev, NULL, srows * sizeof(float));
        a.mask = c.mask;
    }
    ring_run(rk, jobs, c.layout);
    std::vector<float> got(sq_n), want(sq_n), lse_got(srows), lse_ref(srows);
    double max_err = 0, max_ref = 0, lse_err = 0;
    int ring_ok = 1, bad_inf = 0;
    for (int i = 0; i < L; i++) {
        const int r = rk[i].rank;
        CHECK(jobs[i].st == LC_OK, "rank %d: %s", r, jobs[i].err);
        ring_ok &= jobs[i].st == LC_OK;
        CUDA_OK(cudaSetDevice(rk[i].dev));
        CUDA_OK(cudaMemcpy(slice.data(), jobs[i].attn.out.data, sq, cudaMemcpyDeviceToHost));
        CUDA_OK(cudaMemcpy(lse_got.data(), jobs[i].attn.lse, srows * sizeof(float), cudaMemcpyDeviceToHost));
        for (void *p : {jobs[i].attn.q.data, jobs[i].attn.k.data, jobs[i].attn.v.data, jobs[i].attn.out.data, (void *)jobs[i].attn.lse}) cudaFree(p);
        ring_scatter(want_raw.data(), want_slice.data(), es, B, N, c.hq, c.d, c.layout, P, r, 1);
        ring_slice_lse(lse_want.data(), lse_ref.data(), B, N, c.hq, c.layout, P, r);
        lc_convert(want.data(), LC_F32, want_slice.data(), c.t, sq_n);
        lc_convert(got.data(), LC_F32, slice.data(), c.t, sq_n);
        for (size_t j = 0; j < sq_n; j++) {
            double e = fabs((double)got[j] - want[j]);
            if (!(e <= max_err)) max_err = e; // NaN propagates
            if (fabs(want[j]) > max_ref) max_ref = fabs(want[j]);
        }
        for (size_t j = 0; j < srows; j++) {
            if (isinf(lse_ref[j])) {
                bad_inf += !(isinf(lse_got[j]) && lse_got[j] < 0);
                continue;
            }
            double e = fabs((double)lse_got[j] - lse_ref[j]);
            if (!(e <= lse_err)) lse_err = e;
        }
    }
    const double rel = max_err / (max_ref > 0 ? max_ref : 1.0);
    const int ok = ring_ok && rel <= 1e-2 && lse_err <= 1e-3 && !bad_inf;
    char mb[64];
    CHECK(ok, "P=%d %s b=%d n_local=%d hq=%d hkv=%d d=%d %s mask=%s: rel err %.3g, lse err %.3g, %d rows lost -inf", P,
          c.layout == LC_RING_ZIGZAG ? "zigzag" : "contiguous", c.b, c.n_local, c.hq, c.hkv, c.d, lc_dtype_name(c.t), mask_name(c.mask, mb, sizeof mb),
          rel, lse_err, bad_inf);
    return ok;
}

// A problem every rank refuses the same way; returns the statuses.
static void refusals(std::vector<gpu_rank> &rk) {
    const int P = rk[0].size, L = (int)rk.size();
    std::vector<rank_job> jobs(L);
    std::vector<void *> mem(L);
    auto setup = [&](int d, int n_local, lc_mask m) {
        for (int r = 0; r < L; r++) {
            CUDA_OK(cudaSetDevice(rk[r].dev));
            lc_attention &a = jobs[r].attn;
            a = lc_attention{};
            uint8_t *base = (uint8_t *)mem[r];
            a.q = lc_tensor_bshd(base, LC_BF16, 1, n_local, 2, d);
            a.k = lc_tensor_bshd(base + (1 << 20), LC_BF16, 1, n_local, 2, d);
            a.v = lc_tensor_bshd(base + (2 << 20), LC_BF16, 1, n_local, 2, d);
            a.out = lc_tensor_bshd(base + (3 << 20), LC_BF16, 1, n_local, 2, d);
            a.mask = m;
        }
    };
    for (int r = 0; r < L; r++) mem[r] = to_device(rk[r].dev, NULL, 4 << 20);
    // a head dim the CUDA kernel does not take: refused in the first block call
    setup(32, 64, lc_mask_causal());
    ring_run(rk, jobs, LC_RING_CONTIGUOUS);
    for (int r = 0; r < L; r++)
        CHECK(jobs[r].st == LC_EUNSUPPORTED, "rank %d: d=32 should be LC_EUNSUPPORTED, got %s: %s", r, lc_status_str(jobs[r].st), jobs[r].err);
    // a dilated window: refused by the kernel too
    lc_mask dil = lc_mask_sliding_window(16);
    dil.window.dilation = 2;
    setup(64, 64, dil);
    ring_run(rk, jobs, LC_RING_ZIGZAG);
    for (int r = 0; r < L; r++) CHECK(jobs[r].st == LC_EUNSUPPORTED, "rank %d: dilation refused, got %s: %s", r, lc_status_str(jobs[r].st), jobs[r].err);
    if (P > 1) { // slices of different lengths: the agreement refuses on every rank
        setup(64, 64, lc_mask_causal());
        for (int r = 0; r < L; r++) // the last rank of the ring holds 62 tokens, the others 64
            if (rk[r].rank == P - 1) jobs[r].attn.q.shape[1] = jobs[r].attn.k.shape[1] = jobs[r].attn.v.shape[1] = jobs[r].attn.out.shape[1] = 62;
        ring_run(rk, jobs, LC_RING_CONTIGUOUS);
        for (int r = 0; r < L; r++) {
            CHECK(jobs[r].st == LC_EINVAL, "rank %d: unequal slices refused, got %s: %s", rk[r].rank, lc_status_str(jobs[r].st), jobs[r].err);
            CHECK(strstr(jobs[r].err, "tokens per rank") != NULL, "sentence names the field: %s", jobs[r].err);
        }
    }
    for (int r = 0; r < L; r++) cudaSetDevice(rk[r].dev), cudaFree(mem[r]);
    lc_ring_nccl g;
    CHECK(lc_ring_nccl_init(&g, NULL, 0) == LC_EINVAL && strstr(lc_last_error(), "comm"), "NULL comm refused: %s", lc_last_error());
}

int main(int argc, char **argv) {
#ifdef LC_RING_MPI
    MPI_Init(&argc, &argv);
#endif
    int quick = 0, gpus = 0;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--gpus") && i + 1 < argc) gpus = atoi(argv[++i]);
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("test_gpu_ring: no CUDA device, skipped\n");
#ifdef LC_RING_MPI
        MPI_Finalize();
#endif
        return 77;
    }
    if (gpus <= 0 || gpus > devices) gpus = devices;
    std::vector<int> sizes = {1};
    if (gpus > 1) sizes.push_back(gpus);
    int me = 0;
#ifdef LC_RING_MPI
    MPI_Bcast(&seed, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD); // every process draws the same sequence
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    sizes = {0}; // one ring: the processes of MPI_COMM_WORLD
#endif
    uint64_t counter = 0;
    long cases = 0, passed = 0;
    for (int P : sizes) {
#ifdef LC_RING_MPI
        std::vector<gpu_rank> rk = ring_open_mpi();
        (void)P;
#else
        std::vector<gpu_rank> rk = ring_open(P);
#endif
        if (me == 0) printf("test_gpu_ring: ring of %d GPUs (%s), seed %llu (replay with --seed)\n", rk[0].size, rk.size() == 1 && rk[0].size > 1 ? "one process each" : "one thread each", (unsigned long long)seed);
        refusals(rk);
        const int lengths[] = {2, 18, 64, 130, 1000, 4096};
        const int n_len = quick ? 5 : 6;
        for (int li = 0; li < n_len; li++)
            for (int kind = 0; kind < 4; kind++)
                for (int layout = 0; layout < 2; layout++) {
                    const int n = lengths[li];
                    ring_case c = {1 + (kind == 1), n, 4, kind == 2 ? 1 : kind == 3 ? 4 : 2, li % 2 ? 128 : 64, kind == 3 ? LC_F16 : LC_BF16,
                                   lc_mask_full(), (lc_ring_layout)layout};
                    if (kind == 1) c.mask = lc_mask_causal();
                    if (kind == 2) c.mask = lc_mask_sliding_window(n / 3 + 5); // reaches one slice back, not two
                    if (kind == 3) c.mask = lc_mask_sliding_window(3 * n / 2 + 1);
                    passed += compare(rk, c, seed, &counter), cases++;
                }
        // odd lengths need the contiguous layout (zigzag halves each slice)
        for (int n : {1, 7, 257}) {
            ring_case c = {2, n, 4, 2, 64, LC_BF16, lc_mask_causal(), LC_RING_CONTIGUOUS};
            passed += compare(rk, c, seed, &counter), cases++;
            c.mask = lc_mask_full();
            passed += compare(rk, c, seed, &counter), cases++;
        }
        ring_close(rk);
    }
#ifdef LC_RING_MPI
    MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &checks, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &passed, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Finalize();
#endif
    if (me == 0) printf("test_gpu_ring: %ld cases (%ld passed), %ld checks, %ld failed\n", cases, passed, checks, failures);
    return failures ? 1 : 0;
}
