// The CUDA kernels against the CPU float64 reference (lc_attention_naive) on fresh random
// inputs over a grid of shapes and masks. Outputs are poisoned (all bits set: NaN) before
// each run, so an element the kernel fails to write fails the comparison. The cases and
// their tolerance are tests/cases/attention_cases.c's (ATTN_GPU_*); the inputs are drawn
// here, fresh from the run's seed. Runs on the GPU machine; without a GPU it exits 77
// (CTest: skipped).
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
#include "attention_cases.h"
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
static int compare(const attn_case &s, uint64_t seed, uint64_t *counter, const variant &run) {
    const lc_mask mask = attn_case_mask(&s);
    const attn_tolerance *tol = attn_tolerance_gpu(&s);
    const int b = (int)s.batch, n_q = (int)s.n_q, n_kv = (int)s.n_kv, hq = (int)s.hq, hkv = (int)s.hkv, dk = (int)s.dk, dv = (int)s.dv;
    CHECK(s.layout == ATTN_BSHD, "%s: layout %d (the GPU test runs BSHD)", s.name, s.layout);
    pair q = make(s.tq, b, n_q, hq, dk, seed, counter), k = make(s.tk, b, n_kv, hkv, dk, seed, counter),
         v = make(s.tv, b, n_kv, hkv, dv, seed, counter), o = make(s.tout, b, n_q, hq, dv, seed, counter);
    const size_t rows = (size_t)b * hq * n_q, out_n = rows * dv;
    float *lse_dev;
    CUDA_OK(cudaMalloc(&lse_dev, rows * sizeof(float)));
    CUDA_OK(cudaMemset(lse_dev, 0xff, rows * sizeof(float)));
    CUDA_OK(cudaMemset(o.dev.data, 0xff, out_n * lc_dtype_size(s.tout)));

    lc_attention g = {};
    g.q = q.dev, g.k = k.dev, g.v = v.dev, g.out = o.dev, g.lse = lse_dev, g.mask = mask, g.scale = s.scale, g.softcap = s.softcap;
    const bool planned = !run.req.block && !run.req.no_clusters && !run.req.tail_tiles;  // the public entry points
    size_t ws_bytes = planned ? lc_cuda_attention_workspace_size(&g) : lc_cuda::attention_workspace(&g, run.req);
    void *ws = NULL;
    if (ws_bytes) CUDA_OK(cudaMalloc(&ws, ws_bytes));
    lc_status st = planned ? lc_cuda_attention_flash_path(&g, run.path, ws, ws_bytes, 0) : lc_cuda::attention_flash(&g, run.path, run.req, ws, ws_bytes, 0);
    CHECK(st == LC_OK, "%s (%s): %s", s.name, run.name, lc_last_error());
    CUDA_OK(cudaDeviceSynchronize());

    std::vector<float> got(out_n), want(out_n), lse_got(rows), lse_want(rows);
    std::vector<unsigned char> raw(out_n * lc_dtype_size(s.tout));
    CUDA_OK(cudaMemcpy(raw.data(), o.dev.data, raw.size(), cudaMemcpyDeviceToHost));
    lc_convert(got.data(), LC_F32, raw.data(), s.tout, out_n);
    CUDA_OK(cudaMemcpy(lse_got.data(), lse_dev, rows * sizeof(float), cudaMemcpyDeviceToHost));

    lc_attention r = g;
    r.q = q.host, r.k = k.host, r.v = v.host, r.out = lc_tensor_bshd(want.data(), LC_F32, b, n_q, hq, dv), r.lse = lse_want.data();
    CHECK(lc_attention_naive(&r, 0) == LC_OK, "reference: %s", lc_last_error());

    double max_err = 0, max_ref = 0, lse_err = 0, lse_bound = 0;
    int bad_inf = 0, bad_lse = 0;
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
        double e = fabs((double)lse_got[i] - lse_want[i]), bound = tol->lse_abs + tol->lse_rel * fabs(lse_want[i]);
        bad_lse += !(e <= bound);
        if (!(e <= lse_err)) lse_err = e, lse_bound = bound;
    }
    double rel = max_err / (max_ref > 0 ? max_ref : 1.0);
    int ok = st == LC_OK && rel <= tol->out_norm && !bad_lse && !bad_inf;
    char mb[96];
    CHECK(ok, "%s, flash (%s) b=%d n_q=%d n_kv=%d hq=%d hkv=%d dk=%d dv=%d %s/%s/%s->%s softcap=%g mask=%s: rel err %.3g (tol %g), lse err %.3g (tol %g), %d rows lost -inf",
          s.name, run.name, b, n_q, n_kv, hq, hkv, dk, dv, lc_dtype_name(s.tq), lc_dtype_name(s.tk), lc_dtype_name(s.tv), lc_dtype_name(s.tout),
          (double)s.softcap, mask_name(&mask, mb, sizeof mb), rel, tol->out_norm, lse_err, lse_bound, bad_inf);
    release(&q), release(&k), release(&v), release(&o);
    cudaFree(lse_dev);
    if (ws) cudaFree(ws);
    return ok;
}

// The table's cases of `group` at `level`, each through `run`; returns how many ran.
static long run_group(unsigned group, int level, uint64_t seed, uint64_t *counter, const variant &run, int only_dk = 0) {
    int n;
    attn_case *cases = attn_cases_select(group, level, NULL, &n);
    CHECK(cases != NULL, "the case table: out of memory");
    long ran = 0;
    for (int i = 0; cases && i < n; i++)
        if (!only_dk || cases[i].dk == only_dk) compare(cases[i], seed, counter, run), ran++;
    free(cases);
    return ran;
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

// The Hopper blocks in clusters of 2 sharing K / V copies: auto's 176-key d = 128 block and
// ws3 at d = 64, each with the tail split off and forced (its R rounded up to whole
// clusters); then the same blocks unclustered.
static long cluster_grid(int level, uint64_t seed, uint64_t *counter_p) {
    long cases = 0;
    const int tails[][2] = {{0, 0}, {3, 2}, {4, 5}};
    for (int d : {128, 64})
        for (const auto &tail : tails) {
            variant run = {d == 64 ? "ws3, clusters" : "auto, clusters", LC_CUDA_PATH_AUTO, {d == 64 ? lc_cuda::SM90_WS3 : lc_cuda::SM90_AUTO, false, tail[0], tail[1]}};
            printf("flash kernel: %s, tail split %d:%d\n", run.name, tail[0], tail[1]);
            cases += run_group(ATTN_GPU_CLUSTERS, level, seed, counter_p, run, d);
        }
    const variant alone = {"auto, no clusters", LC_CUDA_PATH_AUTO, {lc_cuda::SM90_AUTO, true, 0, 0}};
    printf("flash kernel: %s\n", alone.name);
    cases += run_group(ATTN_GPU_UNCLUSTERED, level, seed, counter_p, alone);
    return cases;
}

int main(int argc, char **argv) {
    int quick;
    uint64_t seed;
    if (gpu_test_begin("test_gpu_attention", argc, argv, &quick, &seed)) return 77;
    uint64_t counter = 0;
    test_refusals();
    const int level = quick == 2 ? CASE_SMOKE : quick ? CASE_QUICK : CASE_FULL;

    // The flash grid (ATTN_GPU_GRID) runs once per kernel: on a Hopper (9.0) device the
    // wgmma kernel for d = 64 and 128 (other dims: the mma.sync kernel) with each of its
    // blocks requested, ws176 the d = 128 block on 176-key tiles (d = 64: as ws), ws3 3
    // consumer warpgroups (d = 64; d = 128: as ws), ws 2; then the mma.sync kernel
    // (LC_CUDA_PATH_MMA).
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
        cases += run_group(ATTN_GPU_GRID, level, seed, &counter, variants[v]);
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
            cases += run_group(ATTN_GPU_GRID, level, seed, &counter, tv);
        }
        cases += cluster_grid(level, seed, &counter);
        // the public entry points: the planned kernel, and the Hopper path asked for by name
        const variant sm90 = {"sm90", LC_CUDA_PATH_SM90, {}};
        cases += run_group(ATTN_GPU_PLANNED, level, seed, &counter, AUTO);
        cases += run_group(ATTN_GPU_SM90, level, seed, &counter, sm90);
    }
    printf("test_gpu_attention: %ld cases, %ld checks, %ld failed\n", cases, checks, failures);
    return failures ? 1 : 0;
}
