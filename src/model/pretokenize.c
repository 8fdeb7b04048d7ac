/* Normalizers and pre-tokenizers: the text of each piece is rewritten (Prepend, Replace,
 * Lowercase; Metaspace's "▁"; ByteLevel's byte alphabet) and split into the pre-tokens the
 * BPE model sees, the way `tokenizers` splits them (tokenizer/normalizer.rs: split and its
 * delimiter behaviours; the pre_tokenizers folder). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

/* ---- normalizers --------------------------------------------------------------------------- */

static lc_status replace_all(const char *s, size_t n, const char *a, size_t an, const char *b, size_t bn, tok_buf *out) {
    out->n = 0;
    lc_status st = tok_buf_reserve(out, n);
    if (st) return st;
    size_t i = 0, from = 0;
    while (an && i + an <= n) {
        if (memcmp(s + i, a, an)) {
            i++;
            continue;
        }
        if ((st = tok_buf_add(out, s + from, i - from)) || (st = tok_buf_add(out, b, bn))) return st;
        i += an;
        from = i;
    }
    return tok_buf_add(out, s + from, n - from);
}

static lc_status lowercase(const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp, low[3];
        size_t k = tok_utf8_decode(u + i, n - i, &cp);
        if (!k) return lc_error(LC_EINTERNAL, "tokenizer: invalid UTF-8 reached the normalizer");
        int m = tok_uni_lower(cp, low);
        for (int j = 0; j < m; j++) {
            char e[4];
            lc_status st = tok_buf_add(out, e, tok_utf8_encode(low[j], e));
            if (st) return st;
        }
        i += k;
    }
    return LC_OK;
}

lc_status tok_normalize(const lc_tokenizer *t, const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    lc_status st = tok_buf_add(out, s, n);
    tok_buf tmp = {0};
    for (int k = 0; k < t->n_norms && !st; k++) {
        const tok_normalizer *z = &t->norms[k];
        switch (z->kind) {
        case TOK_NORM_PREPEND:
            if (!out->n) continue;
            tmp.n = 0;
            if (!(st = tok_buf_add(&tmp, z->a, z->a_len))) st = tok_buf_add(&tmp, out->p, out->n);
            break;
        case TOK_NORM_REPLACE: st = replace_all(out->p, out->n, z->a, z->a_len, z->b, z->b_len, &tmp); break;
        case TOK_NORM_LOWERCASE: st = lowercase(out->p, out->n, &tmp); break;
        case TOK_NORM_NFC: st = tok_nfc(out->p, out->n, &tmp); break;
        }
        tok_buf swap = *out;
        *out = tmp;
        tmp = swap;
    }
    free(tmp.p);
    return st;
}

/* ---- splitting with a delimiter behaviour ------------------------------------------------------ */

typedef struct seg {
    size_t s, e;
    int match;
} seg;

typedef struct segs {
    seg *v;
    size_t n, cap;
    size_t *ends; /* regex scratch */
    size_t n_ends, ends_cap;
} segs;

static lc_status seg_push(segs *g, size_t s, size_t e, int match) {
    if (g->n == g->cap) {
        size_t c = g->cap ? g->cap * 2 : 64;
        seg *q = realloc(g->v, c * sizeof *q);
        if (!q) return lc_error(LC_ENOMEM, "tokenizer: out of memory splitting text");
        g->v = q, g->cap = c;
    }
    g->v[g->n++] = (seg){s, e, match};
    return LC_OK;
}

/* Applies a behaviour to the segments (in place; a removed segment gets s = e = SIZE_MAX). */
static void apply_behavior(segs *g, tok_behavior b) {
    size_t n = g->n, m = 0;
    seg *v = g->v;
    int prev = 0;
    switch (b) {
    case TOK_SPLIT_ISOLATED: return;
    case TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!v[i].match) v[m++] = v[i];
        break;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            if (v[i].match == prev && m) v[m - 1].e = v[i].e;
            else v[m++] = v[i];
            prev = v[i].match;
        }
        break;
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            if (v[i].match && !prev && m) v[m - 1].e = v[i].e;
            else v[m++] = v[i];
            prev = v[i].match;
        }
        break;
    case TOK_SPLIT_MERGED_NEXT: /* right to left, building from the end */
        m = n;
        for (size_t i = n; i-- > 0;) {
            if (v[i].match && !prev && m < n) v[m].s = v[i].s;
            else v[--m] = v[i];
            prev = v[i].match;
        }
        memmove(v, v + m, (n - m) * sizeof *v);
        m = n - m;
        break;
    }
    g->n = m;
}

/* Pushes the segments of piece text s[0..n) as pieces; the one at offset 0 inherits first. */
static lc_status push_segs(const segs *g, const char *s, int first, tok_pieces *out) {
    for (size_t i = 0; i < g->n; i++) {
        const seg *x = &g->v[i];
        if (x->e <= x->s) continue; /* empty pieces are dropped */
        lc_status st = tok_pieces_push(out, s + x->s, x->e - x->s, -1, first && x->s == 0);
        if (st) return st;
    }
    return LC_OK;
}

/* Every occurrence of the literal a in s as a match, gaps as non-matches. */
static lc_status find_literal(segs *g, const char *s, size_t n, const char *a, size_t an) {
    size_t last = 0;
    lc_status st;
    for (size_t i = 0; an && i + an <= n;) {
        if (memcmp(s + i, a, an)) {
            i++;
            continue;
        }
        if (i > last && (st = seg_push(g, last, i, 0))) return st;
        if ((st = seg_push(g, i, i + an, 1))) return st;
        i += an;
        last = i;
    }
    return last < n ? seg_push(g, last, n, 0) : LC_OK;
}

/* Every character that is a number (Rust's char::is_numeric) as a match of its own. */
static lc_status find_numbers(segs *g, const char *s, size_t n) {
    size_t last = 0;
    lc_status st;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + i, n - i, &cp);
        if (!k) k = 1, cp = u[i];
        if (tok_uni_is_number(cp)) {
            if (i > last && (st = seg_push(g, last, i, 0))) return st;
            if ((st = seg_push(g, i, i + k, 1))) return st;
            last = i + k;
        }
        i += k;
    }
    return last < n ? seg_push(g, last, n, 0) : LC_OK;
}

static lc_status find_regex(segs *g, tok_regex re, const char *s, size_t n) {
    lc_status st = tok_regex_split(re, s, n, &g->ends, &g->n_ends, &g->ends_cap);
    for (size_t i = 0, from = 0; i < g->n_ends && !st; i++) {
        st = seg_push(g, from, g->ends[i], 1);
        from = g->ends[i];
    }
    return st;
}

/* ---- the pre-tokenizers -------------------------------------------------------------------- */

static lc_status byte_level_map(const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    lc_status st = tok_buf_reserve(out, 2 * n);
    if (st) return st;
    for (size_t i = 0; i < n; i++) out->n += tok_utf8_encode(tok_byte_to_cp((unsigned char)s[i]), out->p + out->n);
    return LC_OK;
}

static lc_status pre_byte_level(const tok_pretok *p, const tok_piece *pc, const char *s, segs *g, tok_buf *tmp, tok_pieces *out) {
    tok_buf text = {0};
    lc_status st = LC_OK;
    if (p->add_prefix_space && (pc->len == 0 || s[0] != ' ')) {
        if (!(st = tok_buf_add(&text, " ", 1))) st = tok_buf_add(&text, s, pc->len);
        s = text.p;
    }
    size_t n = text.p ? text.n : pc->len;
    g->n = 0;
    if (!st) st = p->use_regex ? find_regex(g, TOK_RE_GPT2, s, n) : seg_push(g, 0, n, 1);
    for (size_t i = 0; i < g->n && !st; i++) {
        const seg *x = &g->v[i];
        if (x->e <= x->s) continue;
        if (!(st = byte_level_map(s + x->s, x->e - x->s, tmp))) st = tok_pieces_push(out, tmp->p, tmp->n, -1, pc->first && x->s == 0);
    }
    free(text.p);
    return st;
}

static lc_status pre_metaspace(const tok_pretok *p, const tok_piece *pc, const char *s, segs *g, tok_buf *tmp, tok_pieces *out) {
    char rep[4];
    size_t rn = tok_utf8_encode(p->replacement, rep);
    lc_status st = replace_all(s, pc->len, " ", 1, rep, rn, tmp);
    if (st) return st;
    int starts = tmp->n >= rn && !memcmp(tmp->p, rep, rn);
    if (!starts && (p->prepend == TOK_PREPEND_ALWAYS || (p->prepend == TOK_PREPEND_FIRST && pc->first))) {
        if ((st = tok_buf_reserve(tmp, rn))) return st;
        memmove(tmp->p + rn, tmp->p, tmp->n);
        memcpy(tmp->p, rep, rn);
        tmp->n += rn;
    }
    g->n = 0;
    if (!p->split) st = seg_push(g, 0, tmp->n, 0);
    else if (!(st = find_literal(g, tmp->p, tmp->n, rep, rn))) apply_behavior(g, TOK_SPLIT_MERGED_NEXT);
    return st ? st : push_segs(g, tmp->p, pc->first, out);
}

static lc_status pre_split(const tok_pretok *p, const tok_piece *pc, const char *s, segs *g, tok_pieces *out) {
    g->n = 0;
    lc_status st = p->kind == TOK_PRE_SPLIT_REGEX ? find_regex(g, p->regex, s, pc->len)
                   : p->kind == TOK_PRE_DIGITS    ? find_numbers(g, s, pc->len)
                                                  : find_literal(g, s, pc->len, p->str, p->str_len);
    if (st) return st;
    if (p->invert)
        for (size_t i = 0; i < g->n; i++) g->v[i].match = !g->v[i].match;
    tok_behavior b = p->kind == TOK_PRE_DIGITS ? (p->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS) : p->behavior;
    apply_behavior(g, b);
    return push_segs(g, s, pc->first, out);
}

lc_status tok_pretokenize(const lc_tokenizer *t, tok_pieces *in, tok_pieces *tmp) {
    segs g = {0};
    tok_buf scratch = {0};
    lc_status st = LC_OK;
    for (int k = 0; k < t->n_pretoks && !st; k++) {
        const tok_pretok *p = &t->pretoks[k];
        tok_pieces_clear(tmp);
        for (size_t i = 0; i < in->n && !st; i++) {
            const tok_piece *pc = &in->v[i];
            const char *s = in->text.p + pc->off;
            if (pc->id >= 0) {
                st = tok_pieces_push(tmp, NULL, 0, pc->id, 0);
                continue;
            }
            if (p->kind == TOK_PRE_BYTELEVEL) st = pre_byte_level(p, pc, s, &g, &scratch, tmp);
            else if (p->kind == TOK_PRE_METASPACE) st = pre_metaspace(p, pc, s, &g, &scratch, tmp);
            else st = pre_split(p, pc, s, &g, tmp);
        }
        tok_pieces swap = *in;
        *in = *tmp;
        *tmp = swap;
    }
    free(g.v);
    free(g.ends);
    free(scratch.p);
    return st;
}
