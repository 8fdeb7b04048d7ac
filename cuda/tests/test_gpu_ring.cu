// Ring attention across GPUs (longctx/ring_cuda.h: CUDA compute + NCCL transport) against
// one lc_cuda_attention_flash of the whole sequence on GPU 0, on fresh random inputs: both
// layouts, full / causal / sliding-window masks, awkward lengths, GQA, head dims 64 and
// 128, bf16 and f16. Outputs are poisoned (NaN) first, so a row the ring fails to write
// fails. Then the refusals: every rank must return the same error. One process, one
// thread per GPU (ncclCommInitAll); rings of 1 GPU and of every GPU. No GPU: exit 77.
//
//   test_gpu_ring [--quick] [--seed S] [--gpus P]
#include <math.h>
#include <time.h>

#include "../ring_run.cuh"

static long checks, failures;
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        checks++;                                                               \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

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

// Runs one case on a ring of rk.size() GPUs; returns 1 when it matches the reference.
static int compare(std::vector<gpu_rank> &rk, const ring_case &c, uint64_t seed, uint64_t *counter) {
    const int P = (int)rk.size();
    const int64_t N = (int64_t)P * c.n_local, B = c.b;
    const size_t es = lc_dtype_size(c.t), nq = (size_t)(B * N * c.hq * c.d), nk = (size_t)(B * N * c.hkv * c.d), rows = (size_t)(B * c.hq * N);
    std::vector<uint8_t> q = random_tensor(c.t, nq, seed, counter), k = random_tensor(c.t, nk, seed, counter), v = random_tensor(c.t, nk, seed, counter);

    // the reference: one flash attention of the whole sequence on GPU 0
    lc_attention ref = {};
    ref.q = lc_tensor_bshd(to_device(0, q.data(), q.size()), c.t, B, N, c.hq, c.d);
    ref.k = lc_tensor_bshd(to_device(0, k.data(), k.size()), c.t, B, N, c.hkv, c.d);
    ref.v = lc_tensor_bshd(to_device(0, v.data(), v.size()), c.t, B, N, c.hkv, c.d);
    ref.out = lc_tensor_bshd(to_device(0, NULL, nq * es), c.t, B, N, c.hq, c.d);
    ref.lse = (float *)to_device(0, NULL, rows * sizeof(float));
    ref.mask = c.mask;
    lc_status st = lc_cuda_attention_flash(&ref, NULL, 0, 0);
    CHECK(st == LC_OK, "reference flash: %s", lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<uint8_t> want_raw(nq * es), got_raw(nq * es);
    std::vector<float> want(nq), got(nq), lse_want(rows), lse_got(rows);
    CUDA_OK(cudaMemcpy(want_raw.data(), ref.out.data, want_raw.size(), cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(lse_want.data(), ref.lse, rows * sizeof(float), cudaMemcpyDeviceToHost));
    for (void *p : {ref.q.data, ref.k.data, ref.v.data, ref.out.data, (void *)ref.lse}) cudaFree(p);

    // the ring: each GPU gets its slice
    std::vector<rank_job> jobs(P);
    const size_t sq = nq / P * es, sk = nk / P * es;
    std::vector<uint8_t> slice(sq);
    for (int r = 0; r < P; r++) {
        lc_attention &a = jobs[r].attn;
        a = lc_attention{};
        ring_scatter(q.data(), slice.data(), es, B, N, c.hq, c.d, c.layout, P, r, 1);
        a.q = lc_tensor_bshd(to_device(r, slice.data(), sq), c.t, B, c.n_local, c.hq, c.d);
        ring_scatter(k.data(), slice.data(), es, B, N, c.hkv, c.d, c.layout, P, r, 1);
        a.k = lc_tensor_bshd(to_device(r, slice.data(), sk), c.t, B, c.n_local, c.hkv, c.d);
        ring_scatter(v.data(), slice.data(), es, B, N, c.hkv, c.d, c.layout, P, r, 1);
        a.v = lc_tensor_bshd(to_device(r, slice.data(), sk), c.t, B, c.n_local, c.hkv, c.d);
        a.out = lc_tensor_bshd(to_device(r, NULL, sq), c.t, B, c.n_local, c.hq, c.d);
        a.lse = (float *)to_device(r, NULL, rows / P * sizeof(float));
        a.mask = c.mask;
    }
    ring_run(rk, jobs, c.layout);
    std::vector<float> lse_slice(rows / P);
    int ring_ok = 1;
    for (int r = 0; r < P; r++) {
        CHECK(jobs[r].st == LC_OK, "rank %d: %s", r, jobs[r].err);
        ring_ok &= jobs[r].st == LC_OK;
        CUDA_OK(cudaSetDevice(r));
        CUDA_OK(cudaMemcpy(slice.data(), jobs[r].attn.out.data, sq, cudaMemcpyDeviceToHost));
        ring_scatter(got_raw.data(), slice.data(), es, B, N, c.hq, c.d, c.layout, P, r, 0);
        CUDA_OK(cudaMemcpy(lse_slice.data(), jobs[r].attn.lse, lse_slice.size() * sizeof(float), cudaMemcpyDeviceToHost));
        ring_scatter_lse(lse_got.data(), lse_slice.data(), B, N, c.hq, c.layout, P, r);
        for (void *p : {jobs[r].attn.q.data, jobs[r].attn.k.data, jobs[r].attn.v.data, jobs[r].attn.out.data, (void *)jobs[r].attn.lse}) cudaFree(p);
    }
    lc_convert(want.data(), LC_F32, want_raw.data(), c.t, nq);
    lc_convert(got.data(), LC_F32, got_raw.data(), c.t, nq);
    double max_err = 0, max_ref = 0, lse_err = 0;
    int bad_inf = 0;
    for (size_t i = 0; i < nq; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= max_err)) max_err = e; // NaN propagates
        if (fabs(want[i]) > max_ref) max_ref = fabs(want[i]);
    }
    for (size_t i = 0; i < rows; i++) {
        if (isinf(lse_want[i])) {
            bad_inf += !(isinf(lse_got[i]) && lse_got[i] < 0);
            continue;
        }
        double e = fabs((double)lse_got[i] - lse_want[i]);
        if (!(e <= lse_err)) lse_err = e;
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
    const int P = (int)rk.size();
    std::vector<rank_job> jobs(P);
    std::vector<void *> mem(P);
    auto setup = [&](int d, int n_local, lc_mask m) {
        for (int r = 0; r < P; r++) {
            CUDA_OK(cudaSetDevice(r));
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
    for (int r = 0; r < P; r++) mem[r] = to_device(r, NULL, 4 << 20);
    // a head dim the CUDA kernel does not take: refused in the first block call
    setup(32, 64, lc_mask_causal());
    ring_run(rk, jobs, LC_RING_CONTIGUOUS);
    for (int r = 0; r < P; r++)
        CHECK(jobs[r].st == LC_EUNSUPPORTED, "rank %d: d=32 should be LC_EUNSUPPORTED, got %s: %s", r, lc_status_str(jobs[r].st), jobs[r].err);
    // a dilated window: refused by the kernel too
    lc_mask dil = lc_mask_sliding_window(16);
    dil.window.dilation = 2;
    setup(64, 64, dil);
    ring_run(rk, jobs, LC_RING_ZIGZAG);
    for (int r = 0; r < P; r++) CHECK(jobs[r].st == LC_EUNSUPPORTED, "rank %d: dilation refused, got %s: %s", r, lc_status_str(jobs[r].st), jobs[r].err);
    if (P > 1) { // slices of different lengths: the agreement refuses on every rank
        setup(64, 64, lc_mask_causal());
        lc_attention &a = jobs[P - 1].attn;
        a.q.shape[1] = a.k.shape[1] = a.v.shape[1] = a.out.shape[1] = 62;
        ring_run(rk, jobs, LC_RING_CONTIGUOUS);
        for (int r = 0; r < P; r++) CHECK(jobs[r].st == LC_EINVAL, "rank %d: unequal slices refused, got %s: %s", r, lc_status_str(jobs[r].st), jobs[r].err);
        CHECK(strstr(jobs[0].err, "tokens per rank") != NULL, "sentence names the field: %s", jobs[0].err);
    }
    for (int r = 0; r < P; r++) cudaSetDevice(r), cudaFree(mem[r]);
    lc_ring_nccl g;
    CHECK(lc_ring_nccl_init(&g, NULL, 0) == LC_EINVAL && strstr(lc_last_error(), "comm"), "NULL comm refused: %s", lc_last_error());
}

int main(int argc, char **argv) {
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
        return 77;
    }
    if (gpus <= 0 || gpus > devices) gpus = devices;
    printf("test_gpu_ring: %d GPUs, seed %llu (replay with --seed)\n", gpus, (unsigned long long)seed);
    uint64_t counter = 0;
    long cases = 0, passed = 0;
    std::vector<int> sizes = {1};
    if (gpus > 1) sizes.push_back(gpus);
    for (int P : sizes) {
        std::vector<gpu_rank> rk = ring_open(P);
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
    printf("test_gpu_ring: %ld cases (%ld passed), %ld checks, %ld failed\n", cases, passed, checks, failures);
    return failures ? 1 : 0;
}
