// What the CUDA kernels accept (see check.h).
#include "check.h"

#include <cuda_runtime.h>
#include <math.h>

namespace lc_cuda {

static lc_status check_view(const lc_tensor *t, const char *name) {
    if (t->stride[3] != 1) return lc_error(LC_EUNSUPPORTED, "%s.stride[3]=%lld: the CUDA kernels need a unit dim stride", name, (long long)t->stride[3]);
    for (int a = 0; a < 3; a++)
        if (t->stride[a] % 8 != 0)
            return lc_error(LC_EUNSUPPORTED, "%s.stride[%d]=%lld: the CUDA kernels need strides that are multiples of 8 elements (16 bytes)", name, a,
                            (long long)t->stride[a]);
    if ((uintptr_t)t->data % 16 != 0) return lc_error(LC_EUNSUPPORTED, "%s.data is not 16-byte aligned", name);
    return LC_OK;
}

lc_status check_device(void) {
    int dev = 0, major = 0, minor = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    if (e != cudaSuccess) return lc_error(LC_EUNSUPPORTED, "no usable CUDA device: %s", cudaGetErrorString(e));
    if (major < 8)
        return lc_error(LC_EUNSUPPORTED, "CUDA device %d has compute capability %d.%d; the kernels need 8.0 or newer (mma.sync, cp.async, ldmatrix)", dev, major, minor);
    return LC_OK;
}

lc_status check_common(const lc_attention *a) {
    // packed batches' offsets live in device memory, which lc_attention_check would read
    if (a && a->varlen.count != 0) return lc_error(LC_EUNSUPPORTED, "varlen.count=%d: packed variable-length batches are not supported on the GPU", a->varlen.count);
    lc_status s = lc_attention_check(a);
    if (s) return s;
    if ((s = check_device())) return s;
    if (a->q.dtype != LC_BF16 && a->q.dtype != LC_F16) return lc_error(LC_EUNSUPPORTED, "q.dtype=%s: the CUDA kernels take bf16 or f16", lc_dtype_name(a->q.dtype));
    if (a->k.dtype != a->q.dtype || a->v.dtype != a->q.dtype) return lc_error(LC_EUNSUPPORTED, "k and v must have q's dtype (%s) on the GPU", lc_dtype_name(a->q.dtype));
    if (a->out.dtype != a->q.dtype && a->out.dtype != LC_F32) return lc_error(LC_EUNSUPPORTED, "out.dtype=%s: the CUDA kernels write q's dtype or f32", lc_dtype_name(a->out.dtype));
    if ((s = check_view(&a->q, "q")) || (s = check_view(&a->k, "k")) || (s = check_view(&a->v, "v")) || (s = check_view(&a->out, "out"))) return s;
    if (a->q.shape[1] + a->mask.q_offset >= (1 << 30) || a->k.shape[1] >= (1 << 30))
        return lc_error(LC_EUNSUPPORTED, "positions from 2^30 on (q_offset + n_q = %lld, n_kv = %lld) are not supported on the GPU",
                        (long long)(a->q.shape[1] + a->mask.q_offset), (long long)a->k.shape[1]);
    const lc_mask *m = &a->mask;
    if (m->window.enabled && m->window.dilation > 1) return lc_error(LC_EUNSUPPORTED, "mask.window.dilation=%lld: the CUDA kernels have no dilated windows", (long long)m->window.dilation);
    if (m->global.count > 0) return lc_error(LC_EUNSUPPORTED, "mask.global: the CUDA kernels have no global tokens");
    if (m->stride.every > 0) return lc_error(LC_EUNSUPPORTED, "mask.stride: the CUDA kernels have no strided patterns");
    if (m->bigbird.block > 0) return lc_error(LC_EUNSUPPORTED, "mask.bigbird: the CUDA kernels have no BigBird pattern (use a block bitmap)");
    return LC_OK;
}

device_mask make_device_mask(const lc_mask *m, const uint8_t *bits) {
    // positions are below 2^30 (checked); a window or sink count larger than that is clamped
    auto clamp = [](int64_t x) { return (int)(x > (1 << 30) ? (1 << 30) : x); };
    device_mask d;
    d.q_offset = (int)m->q_offset, d.causal = m->causal;
    d.window = m->window.enabled, d.left = clamp(m->window.left), d.right = clamp(m->window.right);
    d.sinks = clamp(m->sinks);
    d.bits = bits;
    d.block_q = clamp(m->blocks.block_q), d.block_k = clamp(m->blocks.block_k), d.n_kb = clamp(m->blocks.n_kb);
    d.any_pattern = d.window || d.sinks > 0 || m->blocks.bits;
    return d;
}

attn_params make_attn_params(const lc_attention *a) {
    attn_params p;
    p.q = a->q.data, p.k = a->k.data, p.v = a->v.data, p.out = a->out.data, p.lse = a->lse;
    p.q_b = a->q.stride[0], p.q_s = a->q.stride[1], p.q_h = a->q.stride[2];
    p.k_b = a->k.stride[0], p.k_s = a->k.stride[1], p.k_h = a->k.stride[2];
    p.v_b = a->v.stride[0], p.v_s = a->v.stride[1], p.v_h = a->v.stride[2];
    p.o_b = a->out.stride[0], p.o_s = a->out.stride[1], p.o_h = a->out.stride[2];
    p.n_q = (int)a->q.shape[1], p.n_kv = (int)a->k.shape[1], p.heads_q = (int)a->q.shape[2];
    p.group = (int)(a->q.shape[2] / a->k.shape[2]);
    p.scale = a->scale != 0 ? a->scale : 1.0f / sqrtf((float)a->q.shape[3]);
    p.scale_log2 = p.scale * 1.4426950408889634f;
    p.softcap = a->softcap;
    p.mask = make_device_mask(&a->mask, NULL);
    return p;
}

}  // namespace lc_cuda
