/* The decoders: token strings back to text, each decoder turning a list of strings into
 * another as `tokenizers` chains them (the decode_chain of each decoder), then joined. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

typedef struct slist {
    tok_buf buf;
    size_t *off, *len;
    size_t n, cap;
} slist;

static lc_status sl_open(slist *l) {
    lc_status st = tok_buf_reserve(&l->buf, 0); /* so the buffer is never NULL */
    if (st) return st;
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 64;
        size_t *o = realloc(l->off, c * sizeof *o);
        if (!o) return lc_error(LC_ENOMEM, "tokenizer: out of memory decoding (%zu bytes of offsets)", c * sizeof *o);
        l->off = o;
        size_t *n = realloc(l->len, c * sizeof *n);
        if (!n) return lc_error(LC_ENOMEM, "tokenizer: out of memory decoding (%zu bytes of lengths)", c * sizeof *n);
        l->len = n, l->cap = c;
    }
    l->off[l->n] = l->buf.n;
    l->len[l->n++] = 0;
    return LC_OK;
}

/* Appends to the last string. */
static lc_status sl_add(slist *l, const void *s, size_t n) {
    lc_status st = tok_buf_add(&l->buf, s, n);
    if (!st) l->len[l->n - 1] += n;
    return st;
}

static lc_status sl_push(slist *l, const void *s, size_t n) {
    lc_status st = sl_open(l);
    return st ? st : sl_add(l, s, n);
}

static void sl_free(slist *l) {
    free(l->buf.p);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static const char *sl_str(const slist *l, size_t i) { return l->buf.p + l->off[i]; }

static const char replacement_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* How many bytes of s[0..n) begin a well-formed sequence (1 when the lead is invalid), and
 * in *whole whether they complete a character. */
static size_t utf8_prefix(const unsigned char *s, size_t n, int *whole) {
    unsigned b = s[0];
    *whole = 0;
    if (b < 0x80) return *whole = 1, 1;
    size_t width = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (!width) return 1;
    unsigned lo = 0x80, hi = 0xBF; /* the second byte's range depends on the lead */
    if (b == 0xE0) lo = 0xA0;
    else if (b == 0xED) hi = 0x9F;
    else if (b == 0xF0) lo = 0x90;
    else if (b == 0xF4) hi = 0x8F;
    size_t k = 1;
    for (; k < width && k < n; k++) {
        unsigned c = s[k];
        if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) break;
    }
    *whole = k == width;
    return k;
}

/* bytes -> text, each maximal ill-formed part replaced by one U+FFFD (Rust's from_utf8_lossy). */
static lc_status utf8_lossy(const unsigned char *s, size_t n, slist *out) {
    lc_status st = LC_OK;
    for (size_t i = 0; i < n && !st;) {
        int whole;
        size_t k = utf8_prefix(s + i, n - i, &whole);
        st = whole ? sl_add(out, s + i, k) : sl_add(out, replacement_char, 3);
        i += k;
    }
    return st;
}

static int hex(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

/* "<0x41>" -> 0x41, else -1 (Rust's u8::from_str_radix also takes "+A"). */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int a = hex((unsigned char)s[3]), b = hex((unsigned char)s[4]);
    if (s[3] == '+' && b >= 0) return b;
    return a >= 0 && b >= 0 ? a * 16 + b : -1;
}

static lc_status flush_bytes(tok_buf *pending, slist *out) {
    if (!pending->n) return LC_OK;
    lc_status st = LC_OK;
    if (tok_utf8_valid_prefix(pending->p, pending->n) == pending->n) st = sl_push(out, pending->p, pending->n);
    else
        for (size_t i = 0; i < pending->n && !st; i++) st = sl_push(out, replacement_char, 3);
    pending->n = 0;
    return st;
}

static lc_status byte_fallback(const slist *in, slist *out) {
    tok_buf pending = {0};
    lc_status st = LC_OK;
    for (size_t i = 0; i < in->n && !st; i++) {
        int b = byte_token(sl_str(in, i), in->len[i]);
        if (b >= 0) {
            unsigned char c = (unsigned char)b;
            st = tok_buf_add(&pending, &c, 1);
        } else if (!(st = flush_bytes(&pending, out))) {
            st = sl_push(out, sl_str(in, i), in->len[i]);
        }
    }
    if (!st) st = flush_bytes(&pending, out);
    free(pending.p);
    return st;
}

static lc_status byte_level(const slist *in, slist *out) {
    tok_buf bytes = {0};
    lc_status st = LC_OK;
    for (size_t i = 0; i < in->n && !st; i++) {
        const unsigned char *s = (const unsigned char *)sl_str(in, i);
        size_t n = in->len[i], mark = bytes.n;
        int all = 1;
        for (size_t j = 0; j < n && all && !st;) {
            uint32_t cp;
            size_t k = tok_utf8_decode(s + j, n - j, &cp);
            int b = k ? tok_cp_to_byte(cp) : -1;
            if (b < 0) all = 0;
            else {
                unsigned char c = (unsigned char)b;
                st = tok_buf_add(&bytes, &c, 1);
            }
            j += k ? k : 1;
        }
        if (!all && !st) { /* a character outside the byte alphabet: the token's own bytes */
            bytes.n = mark;
            st = tok_buf_add(&bytes, s, n);
        }
    }
    if (!st && !(st = sl_open(out))) st = utf8_lossy((const unsigned char *)bytes.p, bytes.n, out);
    free(bytes.p);
    return st;
}

static lc_status replace(const tok_decoder *d, const slist *in, slist *out) {
    lc_status st = LC_OK;
    for (size_t i = 0; i < in->n && !st; i++) {
        const char *s = sl_str(in, i);
        size_t n = in->len[i], from = 0;
        if ((st = sl_open(out))) break;
        for (size_t j = 0; d->a_len && j + d->a_len <= n && !st;) {
            if (memcmp(s + j, d->a, d->a_len)) {
                j++;
                continue;
            }
            if (!(st = sl_add(out, s + from, j - from))) st = sl_add(out, d->b, d->b_len);
            j += d->a_len;
            from = j;
        }
        if (!st) st = sl_add(out, s + from, n - from);
    }
    return st;
}

static lc_status metaspace(const tok_decoder *d, const slist *in, slist *out) {
    lc_status st = LC_OK;
    for (size_t i = 0; i < in->n && !st; i++) {
        const unsigned char *s = (const unsigned char *)sl_str(in, i);
        size_t n = in->len[i];
        if ((st = sl_open(out))) break;
        for (size_t j = 0; j < n && !st;) {
            uint32_t cp;
            size_t k = tok_utf8_decode(s + j, n - j, &cp);
            if (!k) k = 1, cp = UINT32_MAX;
            if (cp != d->ch) st = sl_add(out, s + j, k);
            else if (i != 0 || d->prepend == TOK_PREPEND_NEVER) st = sl_add(out, " ", 1);
            j += k;
        }
    }
    return st;
}

static lc_status strip(const tok_decoder *d, const slist *in, slist *out) {
    lc_status st = LC_OK;
    char e[4];
    size_t en = tok_utf8_encode(d->ch, e);
    for (size_t i = 0; i < in->n && !st; i++) {
        const char *s = sl_str(in, i);
        size_t a = 0, b = in->len[i];
        for (int64_t k = 0; k < d->start && b - a >= en && !memcmp(s + a, e, en); k++) a += en;
        for (int64_t k = 0; k < d->stop && b - a >= en && !memcmp(s + b - en, e, en); k++) b -= en;
        st = sl_push(out, s + a, b - a);
    }
    return st;
}

lc_status tok_decode_strings(const lc_tokenizer *t, const char *const *strs, const size_t *lens, size_t n, tok_buf *out) {
    slist cur = {0}, next = {0};
    lc_status st = LC_OK;
    for (size_t i = 0; i < n && !st; i++) st = sl_push(&cur, strs[i], lens[i]);
    for (int k = 0; k < t->n_decoders && !st; k++) {
        const tok_decoder *d = &t->decoders[k];
        next.n = 0, next.buf.n = 0;
        switch (d->kind) {
        case TOK_DEC_BYTELEVEL: st = byte_level(&cur, &next); break;
        case TOK_DEC_BYTEFALLBACK: st = byte_fallback(&cur, &next); break;
        case TOK_DEC_REPLACE: st = replace(d, &cur, &next); break;
        case TOK_DEC_METASPACE: st = metaspace(d, &cur, &next); break;
        case TOK_DEC_STRIP: st = strip(d, &cur, &next); break;
        case TOK_DEC_FUSE:
            if (!(st = sl_open(&next)))
                for (size_t i = 0; i < cur.n && !st; i++) st = sl_add(&next, sl_str(&cur, i), cur.len[i]);
            break;
        }
        slist swap = cur;
        cur = next;
        next = swap;
    }
    for (size_t i = 0; i < cur.n && !st; i++) st = tok_buf_add(out, sl_str(&cur, i), cur.len[i]);
    sl_free(&cur);
    sl_free(&next);
    return st;
}
