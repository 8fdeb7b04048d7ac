/* The standalone CUDA build (cmake -S src/cuda) has no CPU flash kernel (it leaves out its
 * vector paths), so the ring driver's default compute table refuses; the GPU ring always
 * passes its own. */
#include "longctx/ring.h"

static size_t no_workspace(void *ctx, const lc_attention *a) {
    (void)ctx, (void)a;
    return 0;
}
static lc_status refuse(void *ctx, const lc_attention *a, void *ws, size_t ws_bytes) {
    (void)ctx, (void)a, (void)ws, (void)ws_bytes;
    return lc_error(LC_EUNSUPPORTED, "ring: the standalone CUDA build has no CPU compute table; pass ring.compute (longctx/ring_cuda.h)");
}
static void no_pack(void *ctx, const lc_tensor *k, const lc_tensor *v, void *buf) { (void)ctx, (void)k, (void)v, (void)buf; }
static void no_begin(void *ctx, float *o, float *l, const lc_ring_rows *g) { (void)ctx, (void)o, (void)l, (void)g; }
static void no_merge(void *ctx, float *o, float *l, const float *po, const float *pl, const lc_ring_rows *g) {
    (void)ctx, (void)o, (void)l, (void)po, (void)pl, (void)g;
}
static void no_finish(void *ctx, const float *o, const float *l, const lc_tensor *out, float *lse, const lc_ring_rows *g) {
    (void)ctx, (void)o, (void)l, (void)out, (void)lse, (void)g;
}
static const lc_ring_compute table = {NULL, no_workspace, refuse, no_pack, no_begin, no_merge, no_finish};
const lc_ring_compute *lc_ring_compute_cpu(void) { return &table; }
