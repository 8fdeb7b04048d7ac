/* NFC (canonical composition), as Unicode's UAX #15 defines it: full canonical
 * decomposition (Hangul syllables by formula), canonical ordering of combining marks,
 * then composition of each starter with the unblocked characters after it. Text without a
 * character flagged TOK_UNI_NFC is already in NFC and is copied as it is. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, L_COUNT = 19, V_COUNT = 21, T_COUNT = 28 };
enum { N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT };

int tok_uni_ccc(uint32_t c) {
    if (c < 0x300) return 0;
    int32_t lo = 0, hi = tok_uni_ccc_count - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if ((tok_uni_ccc_ranges[mid] >> 8) <= c) lo = mid;
        else hi = mid - 1;
    }
    return (int)(tok_uni_ccc_ranges[lo] & 0xFF);
}

static int32_t find_decomp(uint32_t c) {
    int32_t lo = 0, hi = tok_uni_decomp_count - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (tok_uni_decomp[mid][0] == c) return mid;
        if (tok_uni_decomp[mid][0] < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT) return a + (b - T_BASE);
    int32_t lo = 0, hi = tok_uni_compose_count - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        const uint32_t *e = tok_uni_compose[mid];
        if (e[0] == a && e[1] == b) return e[2];
        if (e[0] < a || (e[0] == a && e[1] < b)) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

typedef struct cps {
    uint32_t *v;
    size_t n, cap;
} cps;

static int push(cps *c, uint32_t x) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint32_t *q = realloc(c->v, cap * sizeof *q);
        if (!q) return 0;
        c->v = q, c->cap = cap;
    }
    c->v[c->n++] = x;
    return 1;
}

static int decompose(cps *c, uint32_t x, int depth) {
    if (x >= S_BASE && x < S_BASE + S_COUNT) {
        uint32_t s = x - S_BASE, t = s % T_COUNT;
        if (!push(c, L_BASE + s / N_COUNT) || !push(c, V_BASE + (s % N_COUNT) / T_COUNT)) return 0;
        return t ? push(c, T_BASE + t) : 1;
    }
    int32_t k = depth < 8 ? find_decomp(x) : -1;
    if (k < 0) return push(c, x);
    if (!decompose(c, tok_uni_decomp[k][1], depth + 1)) return 0;
    return tok_uni_decomp[k][2] ? decompose(c, tok_uni_decomp[k][2], depth + 1) : 1;
}

lc_status tok_nfc(const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (; i < n; i++) /* the common case: nothing NFC would touch */
        if (u[i] >= 0x80) break;
    int touched = 0;
    for (size_t j = i; j < n && !touched;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + j, n - j, &cp);
        if (!k) return lc_error(LC_EINTERNAL, "tokenizer: invalid UTF-8 reached the normalizer");
        touched = (tok_uni_class(cp) & TOK_UNI_NFC) != 0;
        j += k;
    }
    if (!touched) return tok_buf_add(out, s, n);
    cps c = {0};
    int ok = 1;
    for (size_t j = 0; j < n && ok;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + j, n - j, &cp);
        ok = decompose(&c, cp, 0);
        j += k;
    }
    if (!ok) return free(c.v), lc_error(LC_ENOMEM, "tokenizer: out of memory normalizing %zu bytes", n);
    for (size_t j = 1; j < c.n; j++) { /* canonical order: marks sorted by class, stable */
        int cc = tok_uni_ccc(c.v[j]);
        for (size_t k = j; cc && k > 0 && tok_uni_ccc(c.v[k - 1]) > cc; k--) {
            uint32_t x = c.v[k];
            c.v[k] = c.v[k - 1], c.v[k - 1] = x;
        }
    }
    if (c.n) { /* composition */
        size_t starter = 0, m = 1;
        int last = tok_uni_ccc(c.v[0]) ? 256 : 0;
        for (size_t j = 1; j < c.n; j++) {
            uint32_t x = c.v[j];
            int cc = tok_uni_ccc(x);
            uint32_t comp = compose(c.v[starter], x);
            if (comp && (last < cc || last == 0)) {
                c.v[starter] = comp;
                continue;
            }
            if (cc == 0) starter = m;
            last = cc;
            c.v[m++] = x;
        }
        c.n = m;
    }
    lc_status st = tok_buf_reserve(out, 4 * c.n);
    for (size_t j = 0; j < c.n && !st; j++) out->n += tok_utf8_encode(c.v[j], out->p + out->n);
    free(c.v);
    return st;
}
