/* Ring attention's driver (Liu et al. 2023, Algorithm 1): agree on the problem, then for
 * steps t = 0, 1, ... attend to the key/value slice of rank (me - t) mod P while the next
 * one arrives, then agree on the outcome. Two ring buffers alternate: step t computes on
 * buf[t % 2] and sends it on, while buf[(t + 1) % 2] receives the next slice; a slice
 * goes only as far as lc_ring_last_hop says, so blocks no later rank needs are neither
 * sent nor computed. The driver touches no data: bytes move through r->transport and
 * all arithmetic goes through r->compute. */
#include "ring_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ALIGN = 64 };

static size_t round_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static const lc_ring_compute *compute_of(const lc_ring *r) { return r->compute ? r->compute : lc_ring_compute_cpu(); }
static double timeout_of(const lc_ring *r) { return r->timeout_s > 0 ? r->timeout_s : 60.0; }

/* ---- workspace ------------------------------------------------------------------------- */

typedef struct ring_ws {
    uint8_t *buf[2];
    float *acc_out, *acc_lse, *part_out, *part_lse;
    void *attend_ws;
    size_t kv_bytes, attend_bytes;
} ring_ws;

static size_t kv_bytes_of(const lc_attention *a) {
    const int64_t *k = a->k.shape;
    return (size_t)(k[0] * k[1] * k[2]) * ((size_t)k[3] * lc_dtype_size(a->k.dtype) + (size_t)a->v.shape[3] * lc_dtype_size(a->v.dtype));
}

/* The call of query chunk x (queries from qs) against key chunk y (keys from ks) of the
 * slice packed in buf. */
static lc_attention block_call(const lc_ring *r, const void *buf, int x, int y, int64_t qs, int64_t ks, float *part_out, float *part_lse) {
    const lc_attention *a = &r->attn;
    const int64_t B = a->q.shape[0], n = a->q.shape[1], hkv = a->k.shape[2], dk = a->k.shape[3], dv = a->v.shape[3];
    const int64_t c = n / lc_ring_chunks(r->layout);
    lc_attention call = *a;
    lc_tensor k = lc_tensor_bshd((void *)buf, a->k.dtype, B, n, hkv, dk);
    lc_tensor v = lc_tensor_bshd((uint8_t *)buf + (size_t)(B * n * hkv * dk) * lc_dtype_size(a->k.dtype), a->v.dtype, B, n, hkv, dv);
    call.q = lc_ring_seq_slice(&a->q, x * c, c);
    call.k = lc_ring_seq_slice(&k, y * c, c);
    call.v = lc_ring_seq_slice(&v, y * c, c);
    call.out = lc_tensor_bshd(part_out, LC_F32, B, c, a->q.shape[2], dv);
    call.lse = part_lse;
    call.mask = lc_ring_block_mask(&a->mask, qs, ks);
    return call;
}

static size_t attend_bytes_of(const lc_ring *r) {
    /* Only the shapes matter to the size: the partial output points at a private dummy
     * (never written) so that the descriptor passes lc_attention_check. */
    static const float dummy[1];
    const lc_ring_compute *cp = compute_of(r);
    lc_attention call = block_call(r, r->attn.k.data, 0, 0, 0, 0, (float *)dummy, NULL);
    return cp->attend_workspace(cp->ctx, &call);
}

static size_t layout_ws(const lc_ring *r, uint8_t *base, ring_ws *w) {
    const lc_attention *a = &r->attn;
    const int64_t B = a->q.shape[0], n = a->q.shape[1], H = a->q.shape[2], dv = a->v.shape[3], c = n / lc_ring_chunks(r->layout);
    size_t off = 0;
#define TAKE(field, type, bytes) (w->field = (type)(base ? base + off : NULL), off += round_up(bytes))
    w->kv_bytes = round_up(kv_bytes_of(a)); /* whole 64-byte units: see the MPI transport */
    w->attend_bytes = attend_bytes_of(r);
    TAKE(buf[0], uint8_t *, w->kv_bytes);
    TAKE(buf[1], uint8_t *, w->kv_bytes);
    TAKE(acc_out, float *, sizeof(float) * (size_t)(B * n * H * dv));
    TAKE(acc_lse, float *, sizeof(float) * (size_t)(B * H * n));
    TAKE(part_out, float *, sizeof(float) * (size_t)(B * c * H * dv));
    TAKE(part_lse, float *, sizeof(float) * (size_t)(B * H * c));
    TAKE(attend_ws, void *, w->attend_bytes);
#undef TAKE
    return off;
}

size_t lc_ring_workspace_size(const lc_ring *r) {
    if (lc_ring_check(r)) return 0;
    ring_ws w;
    return ALIGN + layout_ws(r, NULL, &w);
}

/* ---- agreement --------------------------------------------------------------------------- */

/* What every rank must have in common, as integers; [0] is the rank's own check status. */
enum { SIG_N = 20 };
static const char *const sig_name[SIG_N] = {
    "check status", "layout", "q.shape[0] (batch)", "q.shape[1] (tokens per rank)", "q.shape[2] (heads)", "k.shape[2] (kv heads)",
    "q.shape[3] (d_k)", "v.shape[3] (d_v)", "q.dtype", "k.dtype", "v.dtype", "mask.causal", "mask.window.enabled",
    "mask.window.left", "mask.window.right", "mask.window.dilation", "mask.stride.every", "mask.stride.summary", "scale (bits)",
    "softcap (bits)"};

static void signature(const lc_ring *r, lc_status st, int64_t sig[SIG_N]) {
    const lc_attention *a = &r->attn;
    const lc_mask *m = &a->mask;
    uint32_t sb, cb;
    memcpy(&sb, &a->scale, 4);
    memcpy(&cb, &a->softcap, 4);
    const int64_t v[SIG_N] = {st, r->layout, a->q.shape[0], a->q.shape[1], a->q.shape[2], a->k.shape[2], a->q.shape[3], a->v.shape[3],
                              a->q.dtype, a->k.dtype, a->v.dtype, m->causal, m->window.enabled, m->window.left, m->window.right,
                              m->window.dilation, m->stride.every, m->stride.summary, sb, cb};
    memcpy(sig, v, sizeof v);
}

/* A transport call's status with a sentence of its own: the transport is the caller's code
 * (or MPI's, NCCL's), which may fail without setting one; the sentence is cleared first, so
 * a failure never carries an earlier call's text. */
#define TRANSPORT(what, call) from_transport((lc_error(LC_OK, "%s", ""), (call)), what)
static lc_status from_transport(lc_status st, const char *what) {
    if (st && !*lc_last_error()) return lc_error(st, "ring: the %s failed (%s) without saying why", what, lc_status_str(st));
    return st;
}

/* Every rank gathers every signature and judges them the same way, so all agree. */
static lc_status agree_on_problem(const lc_ring *r, lc_status own, int64_t *all, double *wait_s) {
    const lc_ring_transport *t = r->transport;
    int64_t mine[SIG_N];
    char why[512];
    snprintf(why, sizeof why, "%s", own ? lc_last_error() : "");
    signature(r, own, mine);
    double t0 = now_s();
    lc_status st = TRANSPORT("transport's allgather", t->allgather(t->ctx, mine, all, sizeof mine, timeout_of(r)));
    *wait_s += now_s() - t0;
    if (own) return lc_error(own, "%s", why); /* this rank's own refusal, in its own words */
    if (st) return st;
    for (int j = 0; j < t->size; j++)
        if (all[j * SIG_N]) return lc_error(LC_EINVAL, "ring: rank %d refused its descriptor (%s); its own error says why", j, lc_status_str((lc_status)all[j * SIG_N]));
    for (int j = 1; j < t->size; j++)
        for (int i = 1; i < SIG_N; i++)
            if (all[j * SIG_N + i] != all[i])
                return lc_error(LC_EINVAL, "ring: rank %d has %s=%lld but rank 0 has %lld: every rank must hold an equal slice of one problem",
                                j, sig_name[i], (long long)all[j * SIG_N + i], (long long)all[i]);
    return LC_OK;
}

/* After the ring: the first failing rank's status, the same on every rank. */
static lc_status agree_on_outcome(const lc_ring *r, lc_status own, int64_t *all, double *wait_s) {
    const lc_ring_transport *t = r->transport;
    int64_t mine = own;
    char why[512];
    snprintf(why, sizeof why, "%s", own ? lc_last_error() : "");
    double t0 = now_s();
    lc_status st = TRANSPORT("transport's allgather", t->allgather(t->ctx, &mine, all, sizeof mine, timeout_of(r)));
    *wait_s += now_s() - t0;
    if (own) return lc_error(own, "%s", why); /* this rank's own failure, in its own words */
    if (st) return st;
    for (int j = 0; j < t->size; j++)
        if (all[j]) return lc_error((lc_status)all[j], "ring: rank %d failed (%s); its own error says why", j, lc_status_str((lc_status)all[j]));
    return LC_OK;
}

/* ---- the ring ---------------------------------------------------------------------------- */

/* Attends this rank's query chunks to every visible chunk of the slice of kv_rank held in
 * buf, merging each partial result. */
static lc_status attend_slice(const lc_ring *r, const ring_ws *w, const void *buf, int kv_rank, lc_ring_stats *s) {
    const lc_ring_compute *cp = compute_of(r);
    const lc_ring_transport *t = r->transport;
    const lc_attention *a = &r->attn;
    const int nc = lc_ring_chunks(r->layout);
    const int64_t n = a->q.shape[1], c = n / nc;
    for (int x = 0; x < nc; x++)
        for (int y = 0; y < nc; y++) {
            int64_t qs = lc_ring_chunk_start(r->layout, t->size, t->rank, x, n), ks = lc_ring_chunk_start(r->layout, t->size, kv_rank, y, n);
            if (!lc_ring_pair_visible(&a->mask, qs, ks, c)) continue;
            lc_attention call = block_call(r, buf, x, y, qs, ks, w->part_out, w->part_lse);
            lc_ring_rows g = {a->q.shape[0], a->q.shape[2], a->v.shape[3], n, x * c, c};
            double t0 = now_s();
            lc_status st = TRANSPORT("compute table's attend", cp->attend(cp->ctx, &call, w->attend_ws, w->attend_bytes));
            if (!st) cp->merge(cp->ctx, w->acc_out, w->acc_lse, w->part_out, w->part_lse, &g);
            s->compute_s += now_s() - t0;
            if (st) return st;
            s->block_calls++;
            s->pairs += lc_attention_active_pairs(&call); /* for FLOP counts; not timed */
            if (t->progress) t->progress(t->ctx); /* let the transfers in flight advance */
        }
    return LC_OK;
}

static lc_status timed_wait(const lc_ring *r, int slot, lc_ring_stats *s) {
    double t0 = now_s();
    lc_status st = TRANSPORT("transport's wait", r->transport->wait(r->transport->ctx, slot, timeout_of(r)));
    s->wait_s += now_s() - t0;
    return st;
}

static lc_status run_ring(const lc_ring *r, const ring_ws *w, lc_ring_stats *s) {
    const lc_ring_transport *t = r->transport;
    const int P = t->size, me = t->rank, next = (me + 1) % P, prev = (me + P - 1) % P;
    int send_pending = 0;
    lc_status st = LC_OK;
    for (int step = 0; step < P && !st; step++) {
        const int held = (me - step + P) % P, incoming = (me - step - 1 + 2 * P) % P;
        const int holds = step == 0 || step <= lc_ring_last_hop(r, held);
        const int send_next = holds && step + 1 <= lc_ring_last_hop(r, held);
        const int recv_next = step + 1 < P && step + 1 <= lc_ring_last_hop(r, incoming);
        uint8_t *cur = w->buf[step % 2], *other = w->buf[(step + 1) % 2];
        /* buf[(step+1) % 2] was sent on during the previous step: that send must be done. */
        if (send_pending && (st = timed_wait(r, LC_RING_SEND, s))) break;
        send_pending = 0;
        if (recv_next && (st = TRANSPORT("transport's start_recv", t->start_recv(t->ctx, other, w->kv_bytes, prev, step + 1)))) break;
        if (send_next) {
            if ((st = TRANSPORT("transport's start_send", t->start_send(t->ctx, cur, w->kv_bytes, next, step + 1)))) break;
            send_pending = 1;
            s->bytes_sent += (int64_t)w->kv_bytes;
        }
        if (holds && lc_ring_needs(r, me, held)) {
            st = attend_slice(r, w, cur, held, s);
            s->blocks_computed++;
            if (st) break;
        }
        if (holds || recv_next) s->steps = step + 1; /* steps in which this rank held or received a slice */
        if (recv_next) {
            if ((st = timed_wait(r, LC_RING_RECV, s))) break;
            s->blocks_received++;
            s->bytes_received += (int64_t)w->kv_bytes;
        }
    }
    if (send_pending && !st) st = timed_wait(r, LC_RING_SEND, s);
    return st;
}

lc_status lc_ring_attention(const lc_ring *r, void *workspace, size_t workspace_bytes, lc_ring_stats *stats) {
    lc_ring_stats s;
    memset(&s, 0, sizeof s);
    const double t_start = now_s();
    if (!r || !r->transport || !r->transport->allgather) return lc_ring_check(r);
    lc_status own = lc_ring_check(r);
    size_t need = own ? 0 : lc_ring_workspace_size(r);
    if (!own && !workspace) own = lc_error(LC_EINVAL, "workspace is NULL: ring attention needs %zu bytes (lc_ring_workspace_size)", need);
    else if (!own && workspace_bytes < need) own = lc_error(LC_EINVAL, "workspace_bytes=%zu is less than the %zu bytes ring attention needs", workspace_bytes, need);
    const int P = r->transport->size > 0 ? r->transport->size : 1;
    int64_t *all = malloc(sizeof(int64_t) * SIG_N * (size_t)P);
    if (!all) return lc_error(LC_ENOMEM, "ring: %zu bytes for the agreement", sizeof(int64_t) * SIG_N * (size_t)P);
    lc_status st = agree_on_problem(r, own, all, &s.wait_s);
    if (!st) {
        const lc_ring_compute *cp = compute_of(r);
        const lc_attention *a = &r->attn;
        ring_ws w;
        layout_ws(r, (uint8_t *)(((uintptr_t)workspace + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1)), &w);
        lc_ring_rows g = {a->q.shape[0], a->q.shape[2], a->v.shape[3], a->q.shape[1], 0, a->q.shape[1]};
        double t0 = now_s();
        cp->begin(cp->ctx, w.acc_out, w.acc_lse, &g);
        cp->pack(cp->ctx, &a->k, &a->v, w.buf[0]);
        s.compute_s += now_s() - t0;
        lc_status ring = run_ring(r, &w, &s);
        st = agree_on_outcome(r, ring, all, &s.wait_s);
        if (!st) {
            t0 = now_s();
            cp->finish(cp->ctx, w.acc_out, w.acc_lse, &a->out, a->lse, &g);
            s.compute_s += now_s() - t0;
        }
    }
    free(all);
    s.total_s = now_s() - t_start;
    if (stats) *stats = s;
    return st;
}

lc_status lc_ring_attention_alloc(const lc_ring *r, lc_ring_stats *stats) {
    lc_status st = lc_ring_check(r);
    size_t bytes = st ? 0 : lc_ring_workspace_size(r);
    void *ws = st ? NULL : lc_aligned_alloc(bytes, ALIGN);
    if (!st && !ws) st = LC_ENOMEM;
    lc_status out = lc_ring_attention(r, ws, bytes, stats);
    /* After a transport failure a cancelled transfer may still land in the ring buffers:
     * the workspace is deliberately not freed then (the job should end). */
    if (out != LC_EIO) lc_aligned_free(ws);
    return out;
}
