/* KV cache layouts over one slot pool: contiguous, paged with copy-on-write fork (Kwon et
 * al. 2023, vLLM's PagedAttention), a sliding-window ring, and sinks + window (Xiao et
 * al. 2023, StreamingLLM). See include/longctx/cache.h and docs/kv-cache.md. */
#include <stdlib.h>
#include <string.h>

#include "longctx/cache.h"

#include <math.h>

struct lc_kv_cache {
    lc_kv_config cfg;
    size_t row_bytes, bytes;
    uint8_t *k, *v;        /* [slots, heads_kv, head_dim] */
    float *ks, *vs;        /* [slots, heads_kv], int8 / fp8 only */
    int64_t *len;          /* [max_seqs] tokens written; -1: sequence not alive */
    int32_t *table;        /* paged: [max_seqs, max_blocks] block ids */
    int32_t *nblocks;      /* paged: [max_seqs] */
    int32_t *refs;         /* paged: [num_blocks] sequences holding each block */
    int32_t *free_list;    /* paged: stack of free block ids */
    int64_t n_free, max_blocks;
};

const char *lc_kv_layout_name(lc_kv_layout l) {
    static const char *n[] = {"contiguous", "paged", "ring", "sinks"};
    return (unsigned)l <= LC_KV_SINKS ? n[l] : "?";
}

static int quantised(lc_dtype t) { return t == LC_INT8 || t == LC_FP8; }

lc_status lc_kv_config_check(const lc_kv_config *c) {
    if (!c) return lc_error(LC_EINVAL, "kv config is NULL");
    if ((unsigned)c->layout > LC_KV_SINKS) return lc_error(LC_EINVAL, "kv.layout=%d is not a known lc_kv_layout", (int)c->layout);
    if ((unsigned)c->dtype > LC_FP8) return lc_error(LC_EINVAL, "kv.dtype=%s is not a cache dtype (f32, f16, bf16, int8, fp8)", lc_dtype_name(c->dtype));
    if (c->heads_kv < 1 || c->head_dim < 1) return lc_error(LC_EINVAL, "kv.heads_kv=%d and kv.head_dim=%d must be >= 1", c->heads_kv, c->head_dim);
    if (c->max_seqs < 1) return lc_error(LC_EINVAL, "kv.max_seqs=%d must be >= 1", c->max_seqs);
    switch (c->layout) {
    case LC_KV_CONTIGUOUS:
        if (c->capacity < 1) return lc_error(LC_EINVAL, "kv.capacity=%lld must be >= 1 for a contiguous cache", (long long)c->capacity);
        break;
    case LC_KV_PAGED:
        if (c->block_size < 1) return lc_error(LC_EINVAL, "kv.block_size=%d must be >= 1 for a paged cache", c->block_size);
        if (c->num_blocks < 1 || c->num_blocks > INT32_MAX) return lc_error(LC_EINVAL, "kv.num_blocks=%lld must lie in [1, 2^31)", (long long)c->num_blocks);
        if (c->capacity < 1) return lc_error(LC_EINVAL, "kv.capacity=%lld (max tokens per sequence) must be >= 1", (long long)c->capacity);
        break;
    case LC_KV_SINKS:
        if (c->sinks < 0) return lc_error(LC_EINVAL, "kv.sinks=%lld must be >= 0", (long long)c->sinks);
        /* fall through */
    case LC_KV_RING:
        if (c->window < 1) return lc_error(LC_EINVAL, "kv.window=%lld must be >= 1 for a %s cache", (long long)c->window, lc_kv_layout_name(c->layout));
        break;
    }
    /* sizes no machine holds are refused before any product of them can overflow */
    const double tokens_max = 0x1p40, bytes_max = 0x1p60;
    if ((double)c->capacity > tokens_max || (double)c->window > tokens_max || (double)c->sinks > tokens_max)
        return lc_error(LC_EINVAL, "kv.capacity=%lld, kv.window=%lld and kv.sinks=%lld must be at most 2^40 tokens", (long long)c->capacity,
                        (long long)c->window, (long long)c->sinks);
    double slots = c->layout == LC_KV_CONTIGUOUS ? (double)c->max_seqs * (double)c->capacity
                   : c->layout == LC_KV_PAGED    ? (double)c->num_blocks * (double)c->block_size
                   : c->layout == LC_KV_RING     ? (double)c->max_seqs * (double)c->window
                                                 : (double)c->max_seqs * (double)(c->sinks + c->window);
    double bytes = slots * 2.0 * (double)c->heads_kv * ((double)c->head_dim * (double)lc_dtype_size(c->dtype) + (quantised(c->dtype) ? 4.0 : 0.0));
    if (c->layout == LC_KV_PAGED) bytes += 4.0 * (double)c->max_seqs * ((double)c->capacity / (double)c->block_size + 1);
    if (bytes > bytes_max) return lc_error(LC_EINVAL, "kv cache of %.4g bytes (%.4g slots) is past any machine's memory (at most 2^60 bytes)", bytes, slots);
    return LC_OK;
}

int64_t lc_kv_slots(const lc_kv_config *c) {
    if (!c) return 0;
    switch (c->layout) {
    case LC_KV_CONTIGUOUS: return c->max_seqs * c->capacity;
    case LC_KV_PAGED: return c->num_blocks * c->block_size;
    case LC_KV_RING: return c->max_seqs * c->window;
    case LC_KV_SINKS: return c->max_seqs * (c->sinks + c->window);
    }
    return 0;
}

static size_t row_bytes(const lc_kv_config *c) { return (size_t)c->heads_kv * (size_t)c->head_dim * lc_dtype_size(c->dtype); }

size_t lc_kv_slot_bytes(const lc_kv_config *c) {
    if (!c) return 0;
    return 2 * row_bytes(c) + (quantised(c->dtype) ? 2 * sizeof(float) * (size_t)c->heads_kv : 0);
}

static int64_t max_blocks(const lc_kv_config *c) { return (c->capacity + c->block_size - 1) / c->block_size; }

size_t lc_kv_footprint(const lc_kv_config *c) {
    if (!c) return 0;
    size_t b = sizeof(struct lc_kv_cache) + (size_t)lc_kv_slots(c) * lc_kv_slot_bytes(c) + sizeof(int64_t) * (size_t)c->max_seqs;
    if (c->layout == LC_KV_PAGED)
        b += sizeof(int32_t) * ((size_t)c->max_seqs * (size_t)max_blocks(c) + (size_t)c->max_seqs + 2 * (size_t)c->num_blocks);
    return b;
}

size_t lc_kv_bytes(const lc_kv_cache *c) { return c ? c->bytes : 0; }
const lc_kv_config *lc_kv_config_of(const lc_kv_cache *c) { return c ? &c->cfg : NULL; }

void lc_kv_destroy(lc_kv_cache *c) {
    if (!c) return;
    lc_aligned_free(c->k), lc_aligned_free(c->v), free(c->ks), free(c->vs), free(c->len);
    free(c->table), free(c->nblocks), free(c->refs), free(c->free_list);
    free(c);
}

lc_status lc_kv_create(const lc_kv_config *cfg, lc_kv_cache **out) {
    lc_status st = lc_kv_config_check(cfg);
    if (st) return st;
    if (!out) return lc_error(LC_EINVAL, "out is NULL");
    *out = NULL;
    lc_kv_cache *c = calloc(1, sizeof *c);
    if (!c) return lc_error(LC_ENOMEM, "kv cache struct");
    c->cfg = *cfg;
    c->row_bytes = row_bytes(cfg);
    size_t slots = (size_t)lc_kv_slots(cfg);
    int q = quantised(cfg->dtype);
    /* the pools on cache lines and huge pages (lc_stream_alloc): decode walks K and V rows 2 KiB
     * apart head by head, and with 4 KiB pages it spends much of a step on TLB misses
     * (docs/kv-cache.md); at malloc's 16-byte offset each 64-byte load of an f32 or int8 row
     * was split over two lines */
    c->k = lc_stream_alloc(slots * c->row_bytes);
    c->v = lc_stream_alloc(slots * c->row_bytes);
    if (q) c->ks = malloc(slots * sizeof(float) * (size_t)cfg->heads_kv), c->vs = malloc(slots * sizeof(float) * (size_t)cfg->heads_kv);
    c->len = malloc(sizeof(int64_t) * (size_t)cfg->max_seqs);
    int bad = !c->k || !c->v || (q && (!c->ks || !c->vs)) || !c->len;
    if (cfg->layout == LC_KV_PAGED) {
        c->max_blocks = max_blocks(cfg);
        c->table = malloc(sizeof(int32_t) * (size_t)cfg->max_seqs * (size_t)c->max_blocks);
        c->nblocks = calloc((size_t)cfg->max_seqs, sizeof(int32_t));
        c->refs = calloc((size_t)cfg->num_blocks, sizeof(int32_t));
        c->free_list = malloc(sizeof(int32_t) * (size_t)cfg->num_blocks);
        bad = bad || !c->table || !c->nblocks || !c->refs || !c->free_list;
    }
    if (bad) {
        lc_kv_destroy(c);
        return lc_error(LC_ENOMEM, "kv cache of %zu bytes", lc_kv_footprint(cfg));
    }
    for (int s = 0; s < cfg->max_seqs; s++) c->len[s] = -1;
    if (cfg->layout == LC_KV_PAGED) {
        c->n_free = cfg->num_blocks;
        for (int64_t b = 0; b < cfg->num_blocks; b++) c->free_list[b] = (int32_t)(cfg->num_blocks - 1 - b);
    }
    c->bytes = lc_kv_footprint(cfg);
    *out = c;
    return LC_OK;
}

static lc_status check_seq(const lc_kv_cache *c, int seq, const char *what) {
    if (!c) return lc_error(LC_EINVAL, "kv cache is NULL");
    if (seq < 0 || seq >= c->cfg.max_seqs || c->len[seq] < 0)
        return lc_error(LC_ERANGE, "%s: sequence %d is unknown (not created, or removed; max_seqs=%d)", what, seq, c->cfg.max_seqs);
    return LC_OK;
}

lc_status lc_kv_seq_new(lc_kv_cache *c, int *seq) {
    if (!c || !seq) return lc_error(LC_EINVAL, "kv cache or seq is NULL");
    for (int s = 0; s < c->cfg.max_seqs; s++)
        if (c->len[s] < 0) {
            c->len[s] = 0;
            if (c->nblocks) c->nblocks[s] = 0;
            *seq = s;
            return LC_OK;
        }
    return lc_error(LC_ENOMEM, "all %d sequences of the kv cache are in use", c->cfg.max_seqs);
}

static void release_block(lc_kv_cache *c, int32_t b) {
    if (--c->refs[b] == 0) c->free_list[c->n_free++] = b;
}

lc_status lc_kv_seq_remove(lc_kv_cache *c, int seq) {
    lc_status st = check_seq(c, seq, "seq_remove");
    if (st) return st;
    if (c->cfg.layout == LC_KV_PAGED) {
        for (int32_t i = 0; i < c->nblocks[seq]; i++) release_block(c, c->table[(int64_t)seq * c->max_blocks + i]);
        c->nblocks[seq] = 0;
    }
    c->len[seq] = -1;
    return LC_OK;
}

/* Slot index of token (seq, pos) in non-paged layouts. */
static int64_t fixed_slot(const lc_kv_cache *c, int seq, int64_t pos) {
    const lc_kv_config *g = &c->cfg;
    switch (g->layout) {
    case LC_KV_CONTIGUOUS: return seq * g->capacity + pos;
    case LC_KV_RING: return seq * g->window + pos % g->window;
    case LC_KV_SINKS: {
        int64_t base = seq * (g->sinks + g->window);
        return pos < g->sinks ? base + pos : base + g->sinks + (pos - g->sinks) % g->window;
    }
    default: return -1;
    }
}

static void copy_slots(lc_kv_cache *c, int64_t dst, int64_t src, int64_t n) {
    if (n <= 0 || dst == src) return;
    memcpy(c->k + dst * c->row_bytes, c->k + src * c->row_bytes, (size_t)n * c->row_bytes);
    memcpy(c->v + dst * c->row_bytes, c->v + src * c->row_bytes, (size_t)n * c->row_bytes);
    if (c->ks) {
        size_t h = (size_t)c->cfg.heads_kv;
        memcpy(c->ks + dst * h, c->ks + src * h, (size_t)n * h * sizeof(float));
        memcpy(c->vs + dst * h, c->vs + src * h, (size_t)n * h * sizeof(float));
    }
}

lc_status lc_kv_seq_fork(lc_kv_cache *c, int src, int *dst) {
    lc_status st = check_seq(c, src, "seq_fork");
    if (st) return st;
    if ((st = lc_kv_seq_new(c, dst))) return st;
    int d = *dst;
    c->len[d] = c->len[src];
    if (c->cfg.layout == LC_KV_PAGED) { /* share every block; the writer copies (append) */
        c->nblocks[d] = c->nblocks[src];
        for (int32_t i = 0; i < c->nblocks[src]; i++) {
            int32_t b = c->table[(int64_t)src * c->max_blocks + i];
            c->table[(int64_t)d * c->max_blocks + i] = b;
            c->refs[b]++;
        }
    } else { /* fixed regions: copy the source's region */
        int64_t per = lc_kv_slots(&c->cfg) / c->cfg.max_seqs;
        copy_slots(c, d * per, src * per, per);
    }
    return LC_OK;
}

int64_t lc_kv_seq_len(const lc_kv_cache *c, int seq) {
    return c && seq >= 0 && seq < c->cfg.max_seqs ? c->len[seq] : -1;
}

int64_t lc_kv_seq_kept(const lc_kv_cache *c, int seq) {
    int64_t n = lc_kv_seq_len(c, seq);
    if (n < 0) return -1;
    const lc_kv_config *g = &c->cfg;
    if (g->layout == LC_KV_RING) return n < g->window ? n : g->window;
    if (g->layout == LC_KV_SINKS) return n <= g->sinks + g->window ? n : g->sinks + g->window;
    return n;
}

int64_t lc_kv_free_blocks(const lc_kv_cache *c) { return c && c->cfg.layout == LC_KV_PAGED ? c->n_free : 0; }

/* Paged: the slot for the next token of seq, allocating a block or copying a shared last
 * block first (copy on write). Capacity was checked by the caller. */
static int64_t paged_slot(lc_kv_cache *c, int seq, int64_t pos) {
    const int64_t bs = c->cfg.block_size, blk = pos / bs, off = pos % bs;
    int32_t *tab = c->table + (int64_t)seq * c->max_blocks;
    if (blk == c->nblocks[seq]) {
        int32_t b = c->free_list[--c->n_free];
        c->refs[b] = 1;
        tab[c->nblocks[seq]++] = b;
    } else if (c->refs[tab[blk]] > 1) {
        int32_t b = c->free_list[--c->n_free];
        c->refs[b] = 1;
        copy_slots(c, (int64_t)b * bs, (int64_t)tab[blk] * bs, off);
        release_block(c, tab[blk]);
        tab[blk] = b;
    }
    return (int64_t)tab[blk] * bs + off;
}

lc_status lc_kv_append(lc_kv_cache *c, int seq, int64_t pos, const float *k, const float *v, int64_t n) {
    lc_status st = check_seq(c, seq, "append");
    if (st) return st;
    if (!k || !v) return lc_error(LC_EINVAL, "append: k and v must not be NULL");
    if (n < 1 || n > ((int64_t)1 << 40)) return lc_error(LC_EINVAL, "append: n=%lld tokens must be in [1, 2^40]", (long long)n);
    if (pos != c->len[seq])
        return lc_error(LC_ERANGE, "append: position %lld is out of order: sequence %d holds %lld tokens, so the next position is %lld",
                        (long long)pos, seq, (long long)c->len[seq], (long long)c->len[seq]);
    const lc_kv_config *g = &c->cfg;
    if ((g->layout == LC_KV_CONTIGUOUS || g->layout == LC_KV_PAGED) && n > g->capacity - pos)
        return lc_error(LC_ERANGE, "append: %lld tokens at position %lld pass the capacity of %lld tokens per sequence",
                        (long long)n, (long long)pos, (long long)g->capacity);
    if (g->layout == LC_KV_PAGED) {
        int64_t bs = g->block_size, need = (pos + n + bs - 1) / bs - c->nblocks[seq];
        if (pos % bs && c->refs[c->table[(int64_t)seq * c->max_blocks + pos / bs]] > 1) need++; /* copy on write */
        if (need > c->n_free)
            return lc_error(LC_ENOMEM, "append: %lld tokens need %lld free blocks, the pool has %lld", (long long)n,
                            (long long)need, (long long)c->n_free);
    }
    const int H = g->heads_kv, D = g->head_dim;
    for (int64_t i = 0; i < n * H * D; i++) /* before anything is written: the cache holds finite rows only */
        if (!isfinite(k[i]) || !isfinite(v[i]))
            return lc_error(LC_EINVAL, "append: %s of token %lld (position %lld), head %lld is %g: keys and values must be finite",
                            isfinite(k[i]) ? "the value" : "the key", (long long)(i / ((int64_t)H * D)), (long long)(pos + i / ((int64_t)H * D)),
                            (long long)(i / D % H), (double)(isfinite(k[i]) ? v[i] : k[i]));
    const size_t hb = (size_t)D * lc_dtype_size(g->dtype);
    for (int64_t t = 0; t < n; t++) {
        int64_t p = pos + t, slot = g->layout == LC_KV_PAGED ? paged_slot(c, seq, p) : fixed_slot(c, seq, p);
        for (int h = 0; h < H; h++) {
            const float *kr = k + (t * H + h) * D, *vr = v + (t * H + h) * D;
            float *ksc = c->ks ? c->ks + slot * H + h : NULL, *vsc = c->vs ? c->vs + slot * H + h : NULL;
            lc_kv_store_row(c->k + slot * c->row_bytes + h * hb, ksc, g->dtype, kr, D);
            lc_kv_store_row(c->v + slot * c->row_bytes + h * hb, vsc, g->dtype, vr, D);
        }
    }
    c->len[seq] = pos + n;
    return LC_OK;
}

int64_t lc_kv_max_spans(const lc_kv_cache *c, int seq) {
    if (check_seq(c, seq, "max_spans")) return 0;
    switch (c->cfg.layout) {
    case LC_KV_PAGED: return c->nblocks[seq] > 0 ? c->nblocks[seq] : 1;
    case LC_KV_RING: return 2;
    case LC_KV_SINKS: return 3;
    default: return 1;
    }
}

static lc_kv_span span_at(const lc_kv_cache *c, int64_t slot, int64_t n, int64_t pos0) {
    lc_kv_span s = {c->k + slot * c->row_bytes, c->v + slot * c->row_bytes, NULL, NULL, n, pos0};
    if (c->ks) s.k_scale = c->ks + slot * c->cfg.heads_kv, s.v_scale = c->vs + slot * c->cfg.heads_kv;
    return s;
}

lc_status lc_kv_spans(const lc_kv_cache *c, int seq, lc_kv_span *spans, int64_t max_spans, int64_t *count) {
    lc_status st = check_seq(c, seq, "spans");
    if (st) return st;
    if (!spans || !count) return lc_error(LC_EINVAL, "spans: spans and count must not be NULL");
    const lc_kv_config *g = &c->cfg;
    lc_kv_span tmp[3];
    int64_t m = 0, len = c->len[seq];
    if (g->layout == LC_KV_PAGED) {
        int64_t need = (len + g->block_size - 1) / g->block_size;
        if (need > max_spans) return lc_error(LC_ERANGE, "spans: sequence %d needs %lld spans, room for %lld", seq, (long long)need, (long long)max_spans);
        for (int64_t b = 0; b < need; b++) {
            int64_t p0 = b * g->block_size, n = len - p0 < g->block_size ? len - p0 : g->block_size;
            spans[m++] = span_at(c, (int64_t)c->table[(int64_t)seq * c->max_blocks + b] * g->block_size, n, p0);
        }
        *count = m;
        return LC_OK;
    }
    if (g->layout == LC_KV_CONTIGUOUS) {
        if (len > 0) tmp[m++] = span_at(c, fixed_slot(c, seq, 0), len, 0);
    } else {
        int64_t S = g->layout == LC_KV_SINKS ? g->sinks : 0, W = g->window;
        int64_t ns = len < S ? len : S;
        if (ns > 0) tmp[m++] = span_at(c, fixed_slot(c, seq, 0), ns, 0);
        int64_t written = len - S, kept = written < W ? written : W;
        if (kept > 0) { /* the window: up to two runs of the ring */
            int64_t p0 = len - kept, r0 = (p0 - S) % W, n1 = W - r0 < kept ? W - r0 : kept;
            tmp[m++] = span_at(c, fixed_slot(c, seq, p0), n1, p0);
            if (kept > n1) tmp[m++] = span_at(c, fixed_slot(c, seq, p0 + n1), kept - n1, p0 + n1);
        }
    }
    if (m > max_spans) return lc_error(LC_ERANGE, "spans: sequence %d needs %lld spans, room for %lld", seq, (long long)m, (long long)max_spans);
    memcpy(spans, tmp, sizeof(lc_kv_span) * (size_t)m);
    *count = m;
    return LC_OK;
}
