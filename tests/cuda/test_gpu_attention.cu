// The CUDA kernels against the CPU float64 reference (lc_attention_naive) on fresh random
// inputs over a grid of shapes and masks. Outputs are poisoned (all bits set: NaN) before
// each run, so an element the kernel fails to write fails the comparison. Runs on the GPU
// machine; without a GPU it exits 77 (CTest: skipped).
//
//   test_gpu_attention [--quick | --smoke] [--seed S]
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vector>

#include "longctx.h"
#include "longctx/cuda.h"
#include "cuda_ok.h"
#include "flash_sm90.h"  // white-box: sm90_request, to run every block of the Hopper kernel

#include "gpu_check.h"

// Which kernel a comparison runs: a path, and for the Hopper kernel a request (a block, the
// tail split, clusters off) that overrides its plan.
struct variant {
    const char *name;
    lc_cuda_path path;
    lc_cuda::sm90_request req;
};
static const variant AUTO = {"auto", LC_CUDA_PATH_AUTO, {}};

struct shape {
    int b, n_q, n_kv, hq, hkv, dk, dv;
    lc_dtype t, tout;
    float softcap;
};

// A host tensor [b, s, h, d] in dtype t with normal draws, and its device copy.
struct pair {
    lc_tensor host, dev;
};
static pair make(lc_dtype t, int b, int s, int h, int d, uint64_t seed, uint64_t *counter) {
    size_t n = (size_t)b * s * h * d;
    std::vector<float> f(n);
    lc_rng_fill_normal(f.data(), n, seed, *counter, 0.f, 1.f, 0);
    *counter += n;
    pair p;
    p.host = lc_tensor_bshd(malloc(n * lc_dtype_size(t)), t, b, s, h, d);
    lc_convert(p.host.data, t, f.data(), LC_F32, n);
    void *dptr;
    CUDA_OK(cudaMalloc(&dptr, n * lc_dtype_size(t)));
    CUDA_OK(cudaMemcpy(dptr, p.host.data, n * lc_dtype_size(t), cudaMemcpyHostToDevice));
    p.dev = p.host;
    p.dev.data = dptr;
    return p;
}
static void release(pair *p) {
    free(p->host.data);
    cudaFree(p->dev.data);
}

static const char *mask_name(const lc_mask *m, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s%s offset=%lld", m->causal ? "causal" : "full", m->window.enabled ? "+window" : "", m->sinks ? "+sinks" : "",
             m->blocks.bits ? "+bitmap" : "", (long long)m->q_offset);
    return buf;
}

// One comparison; returns 1 when the GPU agrees with the reference.
static int compare(const shape &s, const lc_mask &mask, uint64_t seed, uint64_t *counter, const variant &run) {
    pair q = make(s.t, s.b, s.n_q, s.hq, s.dk, seed, counter), k = make(s.t, s.b, s.n_kv, s.hkv, s.dk, seed, counter),
         v = make(s.t, s.b, s.n_kv, s.hkv, s.dv, seed, counter), o = make(s.tout, s.b, s.n_q, s.hq, s.dv, seed, counter);
    const size_t rows = (size_t)s.b * s.hq * s.n_q, out_n = rows * s.dv;
    float *lse_dev;
    CUDA_OK(cudaMalloc(&lse_dev, rows * sizeof(float)));
    CUDA_OK(cudaMemset(lse_dev, 0xff, rows * sizeof(float)));
    CUDA_OK(cudaMemset(o.dev.data, 0xff, out_n * lc_dtype_size(s.tout)));

    lc_attention g = {};
    g.q = q.dev, g.k = k.dev, g.v = v.dev, g.out = o.dev, g.lse = lse_dev, g.mask = mask, g.softcap = s.softcap;
    const bool planned = !run.req.block && !run.req.no_clusters && !run.req.tail_tiles;  // the public entry points
    size_t ws_bytes = planned ? lc_cuda_attention_workspace_size(&g) : lc_cuda::attention_workspace(&g, run.req);
    void *ws = NULL;
    if (ws_bytes) CUDA_OK(cudaMalloc(&ws, ws_bytes));
    lc_status st = planned ? lc_cuda_attention_flash_path(&g, run.path, ws, ws_bytes, 0) : lc_cuda::attention_flash(&g, run.path, run.req, ws, ws_bytes, 0);
    CHECK(st == LC_OK, "%s: %s", run.name, lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());

    std::vector<float> got(out_n), want(out_n), lse_got(rows), lse_want(rows);
    std::vector<unsigned char> raw(out_n * lc_dtype_size(s.tout));
    CUDA_OK(cudaMemcpy(raw.data(), o.dev.data, raw.size(), cudaMemcpyDeviceToHost));
    lc_convert(got.data(), LC_F32, raw.data(), s.tout, out_n);
    CUDA_OK(cudaMemcpy(lse_got.data(), lse_dev, rows * sizeof(float), cudaMemcpyDeviceToHost));

    lc_attention r = g;
    r.q = q.host, r.k = k.host, r.v = v.host, r.out = lc_tensor_bshd(want.data(), LC_F32, s.b, s.n_q, s.hq, s.dv), r.lse = lse_want.data();
    CHECK(lc_attention_naive(&r, 0) == LC_OK, "reference: %s", lc_last_error());

    double max_err = 0, max_ref = 0, lse_err = 0;
    int bad_inf = 0;
    for (size_t i = 0; i < out_n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= max_err)) max_err = e;  // NaN propagates
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
    double rel = max_err / (max_ref > 0 ? max_ref : 1.0);
    int ok = st == LC_OK && rel <= 1e-2 && lse_err <= 1e-3 && !bad_inf;
    char mb[96];
    CHECK(ok, "flash (%s) b=%d n_q=%d n_kv=%d hq=%d hkv=%d dk=%d dv=%d %s->%s softcap=%g mask=%s: rel err %.3g, lse err %.3g, %d rows lost -inf", run.name, s.b,
          s.n_q, s.n_kv, s.hq, s.hkv, s.dk, s.dv, lc_dtype_name(s.t), lc_dtype_name(s.tout), (double)s.softcap,
          mask_name(&mask, mb, sizeof mb), rel, lse_err, bad_inf);
    release(&q), release(&k), release(&v), release(&o);
    cudaFree(lse_dev);
    if (ws) cudaFree(ws);
    return ok;
}

// Configurations the kernel does not take are refused with LC_EUNSUPPORTED, before a launch.
static void test_refusals(void) {
    uint16_t *d;
    CUDA_OK(cudaMalloc(&d, 4 << 20));
    lc_attention a = {};
    a.q = lc_tensor_bshd(d, LC_BF16, 1, 64, 1, 96);
    a.k = lc_tensor_bshd(d + (1 << 18), LC_BF16, 1, 64, 1, 96);
    a.v = lc_tensor_bshd(d + (2 << 18), LC_BF16, 1, 64, 1, 96);
    a.out = lc_tensor_bshd(d + (3 << 18), LC_BF16, 1, 64, 1, 96);
    CHECK(lc_cuda_attention_check(&a) == LC_EUNSUPPORTED && strstr(lc_last_error(), "head dims"), "d=96 refused: %s", lc_last_error());
    a.q.shape[3] = a.k.shape[3] = a.v.shape[3] = a.out.shape[3] = 64;
    CHECK(lc_cuda_attention_check(&a) == LC_OK, "d=64 accepted: %s", lc_last_error());
    a.q.dtype = LC_F32;
    CHECK(lc_cuda_attention_check(&a) == LC_EUNSUPPORTED && strstr(lc_last_error(), "q.dtype"), "f32 q refused: %s", lc_last_error());
    a.q.dtype = LC_BF16;
    a.mask.window.enabled = 1, a.mask.window.left = 8, a.mask.window.right = 0, a.mask.window.dilation = 2;
    CHECK(lc_cuda_attention_check(&a) == LC_EUNSUPPORTED && strstr(lc_last_error(), "dilation"), "dilated window refused: %s", lc_last_error());
    a.mask = lc_mask_causal();
    a.k.stride[1] = 68;
    a.k.capacity = 1 << 18;
    CHECK(lc_cuda_attention_check(&a) == LC_EUNSUPPORTED && strstr(lc_last_error(), "k.stride[1]"), "unaligned stride refused: %s", lc_last_error());
    // the Hopper path where it cannot run, and a path that is none
    a.q = lc_tensor_bshd(d, LC_BF16, 1, 64, 1, 256);
    a.k = lc_tensor_bshd(d + (1 << 18), LC_BF16, 1, 64, 1, 256);
    a.v = lc_tensor_bshd(d + (2 << 18), LC_BF16, 1, 64, 1, 256);
    a.out = lc_tensor_bshd(d + (3 << 18), LC_BF16, 1, 64, 1, 256);
    CHECK(lc_cuda_attention_flash_path(&a, LC_CUDA_PATH_SM90, NULL, 0, 0) == LC_EUNSUPPORTED && strstr(lc_last_error(), "LC_CUDA_PATH_SM90"),
          "the Hopper path refused at d=256: %s", lc_last_error());
    CHECK(lc_cuda_attention_flash_path(&a, (lc_cuda_path)7, NULL, 0, 0) == LC_EINVAL && strstr(lc_last_error(), "path"), "path 7 refused: %s", lc_last_error());
    cudaFree(d);
}

// The flash kernel over head dims, lengths (across the 64- and 128-key tiles), GQA, every
// mask kind, offsets, dtypes, soft-capping; returns the number of cases.
static long flash_grid(int quick, uint64_t seed, uint64_t *counter_p, const variant &run) {
    long cases = 0;
    const int dims[][2] = {{64, 64}, {128, 128}, {256, 256}, {192, 128}};
    const int lengths[] = {1, 17, 100, 257, 64, 1000};
    const int n_len = quick == 2 ? 2 : quick ? 4 : 6;
    uint8_t bits[16 * 16];
    for (int i = 0; i < 256; i++) bits[i] = (uint8_t)((i * 7 + i / 16) % 3 == 0);
    for (int di = 0; di < 4; di++)
        for (int li = 0; li < n_len; li++)
            for (int kind = 0; kind < 6; kind++) {
                shape s = {1 + (kind % 2), lengths[li], lengths[li], 4, kind % 3 == 0 ? 4 : kind % 3 == 1 ? 2 : 1, dims[di][0], dims[di][1],
                           kind == 3 ? LC_F16 : LC_BF16, kind == 4 ? LC_F32 : (kind == 3 ? LC_F16 : LC_BF16), kind == 5 ? 20.f : 0.f};
                lc_mask m = lc_mask_full();
                switch (kind) {
                case 1: m = lc_mask_causal(); break;
                case 2: m = lc_mask_sliding_window(37); break;
                case 3: m = lc_mask_sliding_window(50), m.sinks = 4; break;
                case 4:  // prefill of n_q new tokens into a cache: offset, n_q != n_kv
                    s.n_kv = s.n_q + 300, m = lc_mask_causal(), m.q_offset = 300;
                    break;
                case 5:  // block bitmap with empty rows (fully masked queries), non-causal
                    m.blocks.bits = bits, m.blocks.block_q = m.blocks.block_k = 64, m.blocks.n_qb = m.blocks.n_kb = 16;
                    break;
                }
                compare(s, m, seed, counter_p, run);
                cases++;
            }
    if (quick == 2) return cases;
    // longer sequences: tiles skipped by the window, GQA 8:1
    shape big = {1, quick ? 2048 : 4099, quick ? 2048 : 4099, 8, 1, 128, 128, LC_BF16, LC_BF16, 0.f};
    compare(big, lc_mask_sliding_window(300), seed, counter_p, run), cases++;
    compare(big, lc_mask_causal(), seed, counter_p, run), cases++;
    // several 128-row blocks against a longer cache (offset, GQA 4:1), and a non-causal
    // n_q < n_kv with neither a multiple of any tile
    shape prefill = {2, 700, 1333, 8, 2, 64, 64, LC_BF16, LC_F32, 0.f}, cross = {1, 300, 1111, 4, 4, 128, 128, LC_F16, LC_F16, 0.f};
    lc_mask pm = lc_mask_causal();
    pm.q_offset = 633;
    compare(prefill, pm, seed, counter_p, run), cases++;
    compare(cross, lc_mask_full(), seed, counter_p, run), cases++;
    return cases;
}

// The blocks in clusters of 2 sharing K / V copies (on a Hopper: auto's 176-key d = 128
// block and ws3 at d = 64, no causal mask, window or bitmap, an even number of query tiles
// per head; n_q = 512 at d = 64 is 3 tiles, unclustered): key counts whose last tile is
// empty, shorter or longer than a block's half of it, GQA and MQA, sinks alone, dtypes, and
// the tail split forced (its R rounded up to whole clusters).
static long cluster_grid(int quick, uint64_t seed, uint64_t *counter_p) {
    long cases = 0;
    const int n_q[] = {256, 512, 1000}, n_kv[] = {1, 60, 176, 300, 2000};
    const int tails[][2] = {{0, 0}, {3, 2}, {4, 5}};
    for (int d : {128, 64})
        for (const auto &tail : tails) {
            variant run = {d == 64 ? "ws3, clusters" : "auto, clusters", LC_CUDA_PATH_AUTO, {d == 64 ? lc_cuda::SM90_WS3 : lc_cuda::SM90_AUTO, false, tail[0], tail[1]}};
            printf("flash kernel: %s, tail split %d:%d\n", run.name, tail[0], tail[1]);
            for (int qi = 0; qi < 3; qi++)
                for (int ki = 0; ki < 5; ki++) {
                    const int kind = (qi * 5 + ki) % 4;
                    if (quick && (qi + ki) % 2) continue;
                    shape s = {1 + kind % 2, n_q[qi], n_kv[ki], 4, kind < 2 ? 4 - 2 * kind : 1, d, d, kind == 2 ? LC_F16 : LC_BF16,
                               kind == 3 ? LC_F32 : (kind == 2 ? LC_F16 : LC_BF16), 0.f};
                    lc_mask m = lc_mask_full();
                    if (kind == 1) m.sinks = 4;  // only the first 4 keys: the other tiles are skipped
                    compare(s, m, seed, counter_p, run), cases++;
                }
        }
    // the same blocks unclustered
    const variant alone = {"auto, no clusters", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_AUTO, true, 0, 0}};
    printf("flash kernel: %s\n", alone.name);
    for (int ki = 0; ki < 5; ki += 2) {
        shape s = {2, 512, n_kv[ki], 4, 2, 128, 128, LC_BF16, LC_BF16, 0.f};
        compare(s, lc_mask_full(), seed, counter_p, alone), cases++;
    }
    return cases;
}

int main(int argc, char **argv) {
    int quick;
    uint64_t seed;
    if (gpu_test_begin("test_gpu_attention", argc, argv, &quick, &seed)) return 77;
    uint64_t counter = 0;
    test_refusals();

    // The flash grid runs once per kernel: on a Hopper (9.0) device the wgmma kernel for
    // d = 64 and 128 (other dims: the mma.sync kernel) with each of its blocks requested,
    // ws176 the d = 128 block on 176-key tiles (d = 64: as ws), ws3 3 consumer warpgroups
    // (d = 64; d = 128: as ws), ws 2; then the mma.sync kernel (LC_CUDA_PATH_MMA).
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    const bool hopper = prop.major == 9 && prop.minor == 0;
    const variant variants[] = {{"ws176", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_WS176, false, 0, 0}},
                                {"ws3", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_WS3, false, 0, 0}},
                                {"ws", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_WS, false, 0, 0}},
                                {"mma.sync", LC_CUDA_PATH_MMA, {}}};
    long cases = 0;
    for (int v = hopper ? 0 : 3; v < 4; v++) {
        printf("flash kernel: %s\n", variants[v].name);
        cases += flash_grid(quick, seed, &counter, variants[v]);
    }
    // the wgmma kernel's tail split (last tiles of the grid over several key ranges, then
    // merged), forced on shapes too small to ask for it: the last R tiles in S ranges
    if (hopper) {
        const variant tails[] = {{"auto, tail split 2:3", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_AUTO, false, 2, 3}},
                                 {"ws3, tail split 1000:2", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_WS3, false, 1000, 2}},
                                 {"ws, tail split 1:5", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_WS, false, 1, 5}},
                                 {"ws176, tail split 3:4", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_WS176, false, 3, 4}}};
        for (const variant &tv : tails) {
            printf("flash kernel: %s\n", tv.name);
            cases += flash_grid(quick, seed, &counter, tv);
        }
        if (quick != 2) cases += cluster_grid(quick, seed, &counter);
        // the public entry points: the planned kernel, and the Hopper path asked for by name
        const variant sm90 = {"sm90", LC_CUDA_PATH_SM90, {}};
        shape s = {2, 333, 1111, 8, 2, 64, 64, LC_BF16, LC_BF16, 0.f};
        compare(s, lc_mask_causal(), seed, &counter, AUTO), cases++;
        compare(s, lc_mask_sliding_window(100), seed, &counter, sm90), cases++;
    }
    printf("test_gpu_attention: %ld cases, %ld checks, %ld failed\n", cases, checks, failures);
    return failures ? 1 : 0;
}
