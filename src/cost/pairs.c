/* Exact counts of the (query, key) pairs a pattern lets attend, in O(1) or O(window)
 * time for any length: the quantity that sets a sparse kernel's FLOPs. Each equals
 * lc_mask_count of the pattern's lc_mask (tests/test_patterns.c checks it). */
#include "longctx/cost.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
/* Arguments past +-2^60 are clamped there, so no sum below can overflow 64 bits. */
static int64_t sane(int64_t x) {
    const int64_t big = (int64_t)1 << 60;
    return x > big ? big : x < -big ? -big : x;
}

double lc_sum_clamped(int64_t a, int64_t b, int64_t off, int64_t lo, int64_t hi) {
    a = sane(a), b = sane(b), off = sane(off), lo = sane(lo), hi = sane(hi);
    if (b <= a || hi < lo) return 0;
    int64_t x0 = a + off, x1 = b - 1 + off, count = b - a;
    int64_t below = min64(max64(lo - x0, 0), count); /* values < lo, each counted as lo */
    int64_t above = min64(max64(x1 - hi, 0), count); /* values > hi, each counted as hi */
    int64_t mid = count - below - above;               /* consecutive values max(x0,lo)..min(x1,hi) */
    double s = (double)below * (double)lo + (double)above * (double)hi;
    if (mid > 0) s += ((double)max64(x0, lo) + (double)min64(x1, hi)) * (double)mid / 2;
    return s;
}

double lc_pairs_causal(int64_t n) { return n <= 0 ? 0 : (double)n * (double)(n + 1) / 2; }

/* Query p sees keys max(0, p-W+1) .. p: min(p + 1, W) of them. */
double lc_pairs_sliding(int64_t n, int64_t window) { return n <= 0 || window <= 0 ? 0 : lc_sum_clamped(0, n, 1, 0, window); }

/* Longformer (Beltagy et al. 2020, Sec. 3.1): query p sees keys [p-w, p+w] and the global
 * tokens 0..g-1; a global query sees every key. Non-global query p >= g: the window's
 * min(n-1, p+w) - max(0, p-w) + 1 keys, plus the globals left of the window, min(g, max(0, p-w)). */
double lc_pairs_longformer(int64_t n, int64_t w, int64_t g) {
    const int64_t inf = (int64_t)1 << 60;
    if (n <= 0) return 0;
    n = sane(n), w = min64(max64(w, 0), n), g = max64(g, 0);
    g = min64(g, n);
    double s = (double)g * (double)n;
    s += lc_sum_clamped(g, n, w, -inf, n - 1) - lc_sum_clamped(g, n, -w, 0, inf) + (double)(n - g);
    s += lc_sum_clamped(g, n, -w, 0, g);
    return s;
}

/* BigBird (Zaheer et al. 2020, App. D, ITC): with nb = n / block blocks, a global query
 * block sees all keys; another block qb sees the global blocks, its window blocks
 * [qb-w, qb+w] beyond them and min(r, remaining) random ones: min(nb, g + wn + r) blocks,
 * exactly as lc_mask draws them. Only blocks within g + w of either end differ from the
 * interior count, so the sum costs O(g + w). Exact when block divides n; otherwise the
 * partial last block is counted as full and the result clipped to n per row. */
double lc_pairs_bigbird(int64_t n, int64_t block, int64_t w, int64_t g, int64_t r) {
    if (n <= 0 || block <= 0) return 0;
    n = sane(n), block = min64(block, n);
    int64_t nb = (n + block - 1) / block;
    w = min64(max64(w, 0), nb), r = min64(max64(r, 0), nb);
    g = min64(max64(g, 0), nb);
    double b = (double)block, rows_keys = 0;
    rows_keys += (double)g * (double)n; /* global query blocks: counted per query block, times block below */
    for (int64_t qb = g; qb < nb; qb++) {
        if (qb >= g + w && qb + w <= nb - 1) { /* interior: the whole window, every block alike */
            int64_t interior = nb - w - qb;
            double keys = (double)min64(nb, g + 2 * w + 1 + r) * b;
            rows_keys += (double)interior * (keys < (double)n ? keys : (double)n);
            qb += interior - 1;
            continue;
        }
        int64_t wl = max64(qb - w, g), wh = min64(qb + w, nb - 1);
        int64_t wn = wh >= wl ? wh - wl + 1 : 0;
        double keys = (double)min64(nb, g + wn + r) * b;
        rows_keys += keys < (double)n ? keys : (double)n;
    }
    /* every query block has `block` rows except a partial last one */
    double last_rows = (double)(n - (nb - 1) * block);
    if (last_rows == b) return rows_keys * b;
    /* subtract the missing rows of the last block: recompute its keys */
    double last_keys;
    if (nb - 1 < g) last_keys = (double)n;
    else {
        int64_t qb = nb - 1, wl = max64(qb - w, g), wh = qb;
        int64_t wn = wh >= wl ? wh - wl + 1 : 0;
        last_keys = (double)min64(nb, g + wn + r) * b;
        if (last_keys > (double)n) last_keys = (double)n;
    }
    return rows_keys * b - (b - last_rows) * last_keys;
}
