/* lc_mask: the single truth of which (query, key) pairs attend, and the per-tile
 * classification the kernels use to skip empty tiles. See include/longctx/mask.h. */
#include "longctx/mask.h"

#include <stdint.h>
#include <string.h>

lc_mask lc_mask_full(void) {
    lc_mask m;
    memset(&m, 0, sizeof m);
    return m;
}

lc_mask lc_mask_causal(void) {
    lc_mask m = lc_mask_full();
    m.causal = 1;
    return m;
}

lc_mask lc_mask_sliding_window(int64_t w) {
    lc_mask m = lc_mask_causal();
    m.window.enabled = 1;
    m.window.left = w - 1;
    m.window.right = 0;
    return m;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int any_pattern(const lc_mask *m) {
    return m->window.enabled || m->global.count > 0 || m->sinks > 0 || m->stride.every > 0 ||
           m->bigbird.block > 0 || m->blocks.bits != NULL;
}

/* ---- validation ------------------------------------------------------------------------ */

lc_status lc_mask_check(const lc_mask *m, int64_t n_q, int64_t n_kv) {
    if (!m) return lc_error(LC_EINVAL, "mask is NULL");
    if (n_q <= 0 || n_kv <= 0) return lc_error(LC_EINVAL, "mask: n_q=%lld and n_kv=%lld must be positive", (long long)n_q, (long long)n_kv);
    if (m->q_offset < 0) return lc_error(LC_EINVAL, "mask.q_offset=%lld must not be negative", (long long)m->q_offset);
    if (m->window.enabled) {
        if (m->window.left < -1) return lc_error(LC_EINVAL, "mask.window.left=%lld must be >= 0 or -1 (unbounded)", (long long)m->window.left);
        if (m->window.right < -1) return lc_error(LC_EINVAL, "mask.window.right=%lld must be >= 0 or -1 (unbounded)", (long long)m->window.right);
        if (m->window.dilation < 0) return lc_error(LC_EINVAL, "mask.window.dilation=%lld must not be negative", (long long)m->window.dilation);
    }
    if (m->global.count < 0) return lc_error(LC_EINVAL, "mask.global.count=%lld must not be negative", (long long)m->global.count);
    if (m->global.count > 0) {
        if (!m->global.index) return lc_error(LC_EINVAL, "mask.global.index is NULL but mask.global.count=%lld", (long long)m->global.count);
        for (int64_t g = 0; g < m->global.count; g++) {
            if (m->global.index[g] < 0) return lc_error(LC_EINVAL, "mask.global.index[%lld]=%lld must not be negative", (long long)g, (long long)m->global.index[g]);
            if (g > 0 && m->global.index[g] <= m->global.index[g - 1])
                return lc_error(LC_EINVAL, "mask.global.index must be strictly increasing: index[%lld]=%lld after %lld", (long long)g, (long long)m->global.index[g], (long long)m->global.index[g - 1]);
        }
    }
    if (m->sinks < 0) return lc_error(LC_EINVAL, "mask.sinks=%lld must not be negative", (long long)m->sinks);
    if (m->stride.every < 0) return lc_error(LC_EINVAL, "mask.stride.every=%lld must not be negative", (long long)m->stride.every);
    if (m->stride.every > 0 && (m->stride.summary < 0 || m->stride.summary > m->stride.every))
        return lc_error(LC_EINVAL, "mask.stride.summary=%lld must be in [0, stride.every=%lld]", (long long)m->stride.summary, (long long)m->stride.every);
    const lc_mask_bigbird *bb = &m->bigbird;
    if (bb->block < 0) return lc_error(LC_EINVAL, "mask.bigbird.block=%lld must not be negative", (long long)bb->block);
    if (bb->block > 0) {
        if (bb->window_blocks < 0) return lc_error(LC_EINVAL, "mask.bigbird.window_blocks=%lld must not be negative", (long long)bb->window_blocks);
        if (bb->global_blocks < 0) return lc_error(LC_EINVAL, "mask.bigbird.global_blocks=%lld must not be negative", (long long)bb->global_blocks);
        if (bb->random_blocks < 0 || bb->random_blocks > LC_MASK_MAX_RANDOM_BLOCKS)
            return lc_error(LC_EINVAL, "mask.bigbird.random_blocks=%lld must be in [0, %d]", (long long)bb->random_blocks, LC_MASK_MAX_RANDOM_BLOCKS);
        if (bb->n_keys < n_kv) return lc_error(LC_EINVAL, "mask.bigbird.n_keys=%lld must be at least the key length %lld", (long long)bb->n_keys, (long long)n_kv);
    }
    const lc_mask_blocks *bl = &m->blocks;
    if (bl->bits) {
        if (bl->block_q <= 0 || bl->block_k <= 0)
            return lc_error(LC_EINVAL, "mask.blocks.block_q=%lld and block_k=%lld must be positive", (long long)bl->block_q, (long long)bl->block_k);
        if (bl->n_qb <= 0 || bl->n_qb > INT64_MAX / bl->block_q || bl->n_qb * bl->block_q < m->q_offset + n_q)
            return lc_error(LC_EINVAL, "mask.blocks.n_qb=%lld blocks of %lld do not cover query positions up to %lld", (long long)bl->n_qb, (long long)bl->block_q, (long long)(m->q_offset + n_q));
        if (bl->n_kb <= 0 || bl->n_kb > INT64_MAX / bl->block_k || bl->n_kb * bl->block_k < n_kv)
            return lc_error(LC_EINVAL, "mask.blocks.n_kb=%lld blocks of %lld do not cover %lld keys", (long long)bl->n_kb, (long long)bl->block_k, (long long)n_kv);
    }
    return LC_OK;
}

/* ---- per-pattern truths ------------------------------------------------------------------ */

/* Number of global positions in [lo, hi). */
static int64_t globals_in(const lc_mask_global *g, int64_t lo, int64_t hi) {
    if (g->count == 0 || hi <= lo) return 0;
    int64_t a = 0, b = g->count; /* first index >= lo */
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (g->index[mid] < lo) a = mid + 1; else b = mid;
    }
    int64_t c = a, d = g->count; /* first index >= hi */
    while (c < d) {
        int64_t mid = c + (d - c) / 2;
        if (g->index[mid] < hi) c = mid + 1; else d = mid;
    }
    return c - a;
}

static int window_allows(const lc_mask_window *w, int64_t p, int64_t j) {
    int64_t d = p - j;
    if (w->left >= 0 && d > w->left) return 0;
    if (w->right >= 0 && -d > w->right) return 0;
    return w->dilation <= 1 || d % w->dilation == 0;
}

static int stride_allows(const lc_mask_stride *s, int64_t p, int64_t j) {
    if (s->summary > 0) return j % s->every >= s->every - s->summary;
    return (p - j) % s->every == 0;
}

/* The random key blocks of query block qb (Floyd's sampling of r distinct candidates;
 * candidates are the key blocks that are neither global nor in qb's window). */
static int bigbird_random(const lc_mask_bigbird *bb, int64_t qb, int64_t out[LC_MASK_MAX_RANDOM_BLOCKS]) {
    int64_t n_kb = ceil_div(bb->n_keys, bb->block), g = bb->global_blocks < n_kb ? bb->global_blocks : n_kb;
    int64_t wl = qb - bb->window_blocks, wh = qb + bb->window_blocks;
    if (wl < g) wl = g;
    if (wh > n_kb - 1) wh = n_kb - 1;
    int64_t wn = wh >= wl ? wh - wl + 1 : 0;
    int64_t cand = n_kb - g - wn;
    int64_t r = bb->random_blocks < cand ? bb->random_blocks : cand;
    int n = 0;
    for (int64_t t = cand - r; t < cand; t++) {
        int64_t x = (int64_t)lc_rng_below(bb->seed, (uint64_t)qb * LC_MASK_MAX_RANDOM_BLOCKS + (uint64_t)(t - (cand - r)), (uint64_t)t + 1);
        for (int k = 0; k < n; k++)
            if (out[k] == x) { x = t; break; }
        out[n++] = x;
    }
    for (int k = 0; k < n; k++) /* candidate index -> key block */
        out[k] = (wn > 0 && out[k] >= wl - g) ? out[k] + g + wn : out[k] + g;
    return n;
}

/* What a row needs to know once: its position and the row-level facts of each pattern. */
typedef struct row_ctx {
    int64_t p;
    int q_global;
    int64_t qb; /* bigbird query block, -1 if none computed */
    int n_rand;
    int64_t rand[LC_MASK_MAX_RANDOM_BLOCKS];
} row_ctx;

static void row_ctx_init(const lc_mask *m, int64_t i, row_ctx *c) {
    c->p = m->q_offset + i;
    c->q_global = globals_in(&m->global, c->p, c->p + 1) > 0;
    if (m->bigbird.block > 0) {
        int64_t qb = c->p / m->bigbird.block;
        if (c->qb != qb) {
            c->qb = qb;
            c->n_rand = bigbird_random(&m->bigbird, qb, c->rand);
        }
    }
}

static int bigbird_block_allows(const lc_mask_bigbird *bb, const row_ctx *c, int64_t kb) {
    int64_t qb = c->qb;
    if (qb < bb->global_blocks || kb < bb->global_blocks) return 1;
    if (kb >= qb - bb->window_blocks && kb <= qb + bb->window_blocks) return 1;
    for (int k = 0; k < c->n_rand; k++)
        if (c->rand[k] == kb) return 1;
    return 0;
}

static int blocks_allow(const lc_mask_blocks *b, int64_t p, int64_t j) {
    return b->bits[(p / b->block_q) * b->n_kb + j / b->block_k] != 0;
}

static int allows_row(const lc_mask *m, const row_ctx *c, int64_t j) {
    int64_t p = c->p;
    if (m->causal && j > p) return 0;
    if (!any_pattern(m)) return 1;
    if (m->window.enabled && window_allows(&m->window, p, j)) return 1;
    if (m->global.count > 0 && (c->q_global || globals_in(&m->global, j, j + 1))) return 1;
    if (j < m->sinks) return 1;
    if (m->stride.every > 0 && stride_allows(&m->stride, p, j)) return 1;
    if (m->bigbird.block > 0 && bigbird_block_allows(&m->bigbird, c, j / m->bigbird.block)) return 1;
    if (m->blocks.bits && blocks_allow(&m->blocks, p, j)) return 1;
    return 0;
}

int lc_mask_allows(const lc_mask *m, int64_t i, int64_t j) {
    if (!m) return 0;
    row_ctx c;
    c.qb = -1;
    row_ctx_init(m, i, &c);
    return allows_row(m, &c, j);
}

/* ---- tiles ---------------------------------------------------------------------------------- */

/* Masks whose rows are one interval (plus the sinks prefix): causal, contiguous window. */
static int is_interval_mask(const lc_mask *m) {
    return m->global.count == 0 && m->stride.every == 0 && m->bigbird.block == 0 && !m->blocks.bits &&
           (!m->window.enabled || m->window.dilation <= 1);
}

void lc_mask_fill_tile(const lc_mask *m, int64_t i0, int64_t rows, int64_t j0, int64_t cols, uint8_t *out, int64_t ld) {
    if (!out || rows <= 0 || cols <= 0) return;
    if (!m) { /* no mask: nothing visible */
        for (int64_t r = 0; r < rows; r++) memset(out + r * ld, 0, (size_t)cols);
        return;
    }
    if (is_interval_mask(m)) {
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *o = out + r * ld;
            int64_t p = m->q_offset + i0 + r;
            int64_t lo = j0, hi = j0 + cols; /* the visible interval, [lo, hi) */
            if (m->window.enabled) {
                if (m->window.left >= 0 && p - m->window.left > lo) lo = p - m->window.left;
                if (m->window.right >= 0 && p + m->window.right + 1 < hi) hi = p + m->window.right + 1;
            } else if (m->sinks > 0) {
                hi = lo; /* only the sinks */
            }
            int64_t cap = m->causal ? p + 1 : j0 + cols; /* causality bounds everything */
            if (hi > cap) hi = cap;
            memset(o, 0, (size_t)cols);
            if (hi > lo) memset(o + (lo - j0), 1, (size_t)(hi - lo));
            int64_t s_hi = m->sinks < cap ? m->sinks : cap;
            if (s_hi > j0 + cols) s_hi = j0 + cols;
            if (s_hi > j0) memset(o, 1, (size_t)(s_hi - j0));
        }
        return;
    }
    row_ctx c;
    c.qb = -1;
    for (int64_t r = 0; r < rows; r++) {
        row_ctx_init(m, i0 + r, &c);
        for (int64_t k = 0; k < cols; k++) out[r * ld + k] = (uint8_t)allows_row(m, &c, j0 + k);
    }
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

void lc_mask_fill_tile_keys(const lc_mask *m, int64_t i0, int64_t rows, int64_t j0, int64_t cols, uint8_t *out, int64_t ld) {
    if (!out || rows <= 0 || cols <= 0) return;
    if (!m) {
        for (int64_t c = 0; c < cols; c++) memset(out + c * ld, 0, (size_t)rows);
        return;
    }
    if (is_interval_mask(m) && cols <= INT32_MAX) {
        /* each row's visible keys as tile columns: [lo, hi) and the sinks [0, s); then each
         * key's row of the output in one loop over the queries */
        enum { CHUNK = 256 };
        int32_t lo[CHUNK], hi[CHUNK], s[CHUNK]; /* clamped to [0, cols]: 32 bits, so the loop below vectorises */
        const int64_t n_cols = cols;
        for (int64_t r0 = 0; r0 < rows; r0 += CHUNK) {
            const int64_t n = rows - r0 < CHUNK ? rows - r0 : CHUNK;
            for (int64_t r = 0; r < n; r++) {
                const int64_t p = m->q_offset + i0 + r0 + r, cap = m->causal ? p + 1 : j0 + cols;
                int64_t a = j0, b = j0 + cols;
                if (m->window.enabled) {
                    if (m->window.left >= 0 && p - m->window.left > a) a = p - m->window.left;
                    if (m->window.right >= 0 && p + m->window.right + 1 < b) b = p + m->window.right + 1;
                } else if (m->sinks > 0) {
                    b = a; /* only the sinks */
                }
                if (b > cap) b = cap;
                const int64_t sk = m->sinks < cap ? m->sinks : cap;
                lo[r] = (int32_t)clamp64(a - j0, 0, n_cols), hi[r] = (int32_t)clamp64(b - j0, 0, n_cols), s[r] = (int32_t)clamp64(sk - j0, 0, n_cols);
            }
            for (int32_t c = 0; c < (int32_t)n_cols; c++) {
                uint8_t *o = out + c * ld + r0;
                for (int64_t r = 0; r < n; r++) o[r] = (uint8_t)(((c >= lo[r]) & (c < hi[r])) | (c < s[r]));
            }
        }
        return;
    }
    row_ctx c;
    c.qb = -1;
    for (int64_t r = 0; r < rows; r++) {
        row_ctx_init(m, i0 + r, &c);
        for (int64_t k = 0; k < cols; k++) out[k * ld + r] = (uint8_t)allows_row(m, &c, j0 + k);
    }
}

/* Union bookkeeping: start EMPTY; any FULL pattern makes the union FULL. */
static lc_tile_class unite(lc_tile_class acc, lc_tile_class c) {
    if (acc == LC_TILE_FULL || c == LC_TILE_FULL) return LC_TILE_FULL;
    if (acc == LC_TILE_PARTIAL || c == LC_TILE_PARTIAL) return LC_TILE_PARTIAL;
    return LC_TILE_EMPTY;
}

static lc_tile_class classify_window(const lc_mask_window *w, int64_t p0, int64_t p1, int64_t j0, int64_t j1) {
    /* rows p0..p1, keys j0..j1 inclusive */
    if (w->left >= 0 && j1 < p0 - w->left) return LC_TILE_EMPTY;
    if (w->right >= 0 && j0 > p1 + w->right) return LC_TILE_EMPTY;
    int full = (w->left < 0 || j0 >= p1 - w->left) && (w->right < 0 || j1 <= p0 + w->right);
    return (full && w->dilation <= 1) ? LC_TILE_FULL : LC_TILE_PARTIAL;
}

static lc_tile_class classify_global(const lc_mask_global *g, int64_t p0, int64_t p1, int64_t j0, int64_t j1) {
    int64_t gq = globals_in(g, p0, p1 + 1), gk = globals_in(g, j0, j1 + 1);
    if (gq == p1 - p0 + 1 || gk == j1 - j0 + 1) return LC_TILE_FULL;
    return (gq == 0 && gk == 0) ? LC_TILE_EMPTY : LC_TILE_PARTIAL;
}

static lc_tile_class classify_stride(const lc_mask_stride *s, int64_t j0, int64_t j1) {
    if (s->every == 1) return LC_TILE_FULL;
    if (s->summary == 0) return LC_TILE_PARTIAL;
    int64_t hit = 0;
    for (int64_t j = j0; j <= j1; j++) hit += (j % s->every >= s->every - s->summary);
    return hit == 0 ? LC_TILE_EMPTY : hit == j1 - j0 + 1 ? LC_TILE_FULL : LC_TILE_PARTIAL;
}

/* Block-granular patterns: decide each (query block, key block) pair the tile touches. */
#define MAX_BLOCK_PAIRS 4096

static lc_tile_class classify_bigbird(const lc_mask *m, int64_t p0, int64_t p1, int64_t j0, int64_t j1) {
    const lc_mask_bigbird *bb = &m->bigbird;
    int64_t qb0 = p0 / bb->block, qb1 = p1 / bb->block, kb0 = j0 / bb->block, kb1 = j1 / bb->block;
    if ((qb1 - qb0 + 1) * (kb1 - kb0 + 1) > MAX_BLOCK_PAIRS) return LC_TILE_PARTIAL;
    int64_t yes = 0, total = 0;
    row_ctx c;
    c.qb = -1;
    for (int64_t qb = qb0; qb <= qb1; qb++) {
        c.qb = qb;
        c.n_rand = bigbird_random(bb, qb, c.rand);
        for (int64_t kb = kb0; kb <= kb1; kb++, total++) yes += bigbird_block_allows(bb, &c, kb);
    }
    return yes == 0 ? LC_TILE_EMPTY : yes == total ? LC_TILE_FULL : LC_TILE_PARTIAL;
}

static lc_tile_class classify_blocks(const lc_mask_blocks *b, int64_t p0, int64_t p1, int64_t j0, int64_t j1) {
    int64_t qb0 = p0 / b->block_q, qb1 = p1 / b->block_q, kb0 = j0 / b->block_k, kb1 = j1 / b->block_k;
    if ((qb1 - qb0 + 1) * (kb1 - kb0 + 1) > MAX_BLOCK_PAIRS) return LC_TILE_PARTIAL;
    int64_t yes = 0, total = 0;
    for (int64_t qb = qb0; qb <= qb1; qb++)
        for (int64_t kb = kb0; kb <= kb1; kb++, total++) yes += b->bits[qb * b->n_kb + kb] != 0;
    return yes == 0 ? LC_TILE_EMPTY : yes == total ? LC_TILE_FULL : LC_TILE_PARTIAL;
}

lc_tile_class lc_mask_classify_tile(const lc_mask *m, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    if (!m || i1 <= i0 || j1 <= j0) return LC_TILE_EMPTY;
    if (i1 - i0 == 1 && j1 - j0 == 1) return lc_mask_allows(m, i0, j0) ? LC_TILE_FULL : LC_TILE_EMPTY;
    int64_t p0 = m->q_offset + i0, p1 = m->q_offset + i1 - 1, k0 = j0, k1 = j1 - 1;
    lc_tile_class causal = LC_TILE_FULL;
    if (m->causal) {
        if (k0 > p1) return LC_TILE_EMPTY;
        if (k1 > p0) causal = LC_TILE_PARTIAL;
    }
    lc_tile_class u = any_pattern(m) ? LC_TILE_EMPTY : LC_TILE_FULL;
    if (m->window.enabled) u = unite(u, classify_window(&m->window, p0, p1, k0, k1));
    if (m->global.count > 0 && u != LC_TILE_FULL) u = unite(u, classify_global(&m->global, p0, p1, k0, k1));
    if (m->sinks > 0) u = unite(u, k1 < m->sinks ? LC_TILE_FULL : k0 >= m->sinks ? LC_TILE_EMPTY : LC_TILE_PARTIAL);
    if (m->stride.every > 0 && u != LC_TILE_FULL) u = unite(u, classify_stride(&m->stride, k0, k1));
    if (m->bigbird.block > 0 && u != LC_TILE_FULL) u = unite(u, classify_bigbird(m, p0, p1, k0, k1));
    if (m->blocks.bits && u != LC_TILE_FULL) u = unite(u, classify_blocks(&m->blocks, p0, p1, k0, k1));
    if (u == LC_TILE_EMPTY) return LC_TILE_EMPTY;
    return (u == LC_TILE_FULL && causal == LC_TILE_FULL) ? LC_TILE_FULL : LC_TILE_PARTIAL;
}

int64_t lc_mask_count(const lc_mask *m, int64_t n_q, int64_t n_kv) {
    if (!m || n_q <= 0 || n_kv <= 0) return 0;
    enum { T = 256 };
    uint8_t tile[T * T];
    int64_t count = 0;
    for (int64_t i0 = 0; i0 < n_q; i0 += T) {
        int64_t rows = n_q - i0 < T ? n_q - i0 : T;
        for (int64_t j0 = 0; j0 < n_kv; j0 += T) {
            int64_t cols = n_kv - j0 < T ? n_kv - j0 : T;
            lc_tile_class c = lc_mask_classify_tile(m, i0, i0 + rows, j0, j0 + cols);
            if (c == LC_TILE_FULL) count += rows * cols;
            if (c != LC_TILE_PARTIAL) continue;
            lc_mask_fill_tile(m, i0, rows, j0, cols, tile, cols);
            for (int64_t e = 0; e < rows * cols; e++) count += tile[e];
        }
    }
    return count;
}
