/* The tokenizer's public face: loading, and encode as `tokenizers` runs it: added tokens
 * split out of the raw text, normalization, added tokens split out of the normalized text,
 * pre-tokenization, BPE per pre-token, then the post-processor's special tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer_internal.h"
#include "unicode.h"

lc_status lc_tokenizer_load(const char *path, lc_tokenizer **out) {
    if (!out) return lc_error(LC_EINVAL, "lc_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path || !*path) return lc_error(LC_EINVAL, "lc_tokenizer_load: path is empty");
    size_t n = strlen(path);
    if (n > 400) return lc_error(LC_EINVAL, "lc_tokenizer_load: path longer than 400 bytes");
    char json[512], config[512];
    struct stat sb;
    const char *slash = strrchr(path, '/');
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(json, sizeof json, "%s/tokenizer.json", path);
        snprintf(config, sizeof config, "%s/tokenizer_config.json", path);
    } else {
        snprintf(json, sizeof json, "%s", path);
        snprintf(config, sizeof config, "%.*stokenizer_config.json", slash ? (int)(slash - path + 1) : 0, path);
    }
    lc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return lc_error(LC_ENOMEM, "lc_tokenizer_load: out of memory");
    lc_status st = tok_load(t, json, config);
    if (!st) {
        t->added_index = malloc(((size_t)t->max_id + 1) * sizeof *t->added_index);
        if (!t->added_index) st = lc_error(LC_ENOMEM, "lc_tokenizer_load: out of memory");
        else {
            for (int32_t i = 0; i <= t->max_id; i++) t->added_index[i] = -1;
            for (int32_t i = 0; i < t->n_added; i++) t->added_index[t->added[i].id] = i;
        }
    }
    if (st) return lc_tokenizer_destroy(t), st;
    *out = t;
    return LC_OK;
}

void lc_tokenizer_destroy(lc_tokenizer *t) {
    if (!t) return;
    tok_unload(t);
    free(t->added_index);
    free(t);
}

int64_t lc_tokenizer_vocab_size(const lc_tokenizer *t) { return t ? (int64_t)t->max_id + 1 : 0; }

const tok_added *tok_added_by_id(const lc_tokenizer *t, int32_t id) {
    if (id < 0 || id > t->max_id || !t->added_index || t->added_index[id] < 0) return NULL;
    return &t->added[t->added_index[id]];
}

const char *tok_id_string(const lc_tokenizer *t, int32_t id, size_t *len) {
    const tok_added *a = tok_added_by_id(t, id);
    if (a) return *len = a->len, a->content;
    if (id < 0 || id >= t->vocab.n || t->vocab.len[id] == UINT32_MAX) return NULL;
    *len = t->vocab.len[id];
    return t->vocab.bytes.p + t->vocab.off[id];
}

lc_status lc_tokenizer_token_id(const lc_tokenizer *t, const char *token, int32_t *id) {
    if (!t || !token || !id) return lc_error(LC_EINVAL, "lc_tokenizer_token_id: NULL argument");
    size_t n = strlen(token);
    for (int32_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, token, n)) return *id = t->added[i].id, LC_OK;
    int32_t v = tok_vocab_find(&t->vocab, token, n);
    if (v < 0) return lc_error(LC_ERANGE, "the tokenizer has no token '%.200s'", token);
    *id = v;
    return LC_OK;
}

const char *lc_tokenizer_token_str(const lc_tokenizer *t, int32_t id) {
    size_t n;
    return t ? tok_id_string(t, id, &n) : NULL;
}

int lc_tokenizer_is_special(const lc_tokenizer *t, int32_t id) {
    const tok_added *a = t ? tok_added_by_id(t, id) : NULL;
    return a && a->special;
}

int32_t lc_tokenizer_bos(const lc_tokenizer *t) { return t ? t->bos : -1; }
int32_t lc_tokenizer_eos(const lc_tokenizer *t) { return t ? t->eos : -1; }

/* ---- added tokens ------------------------------------------------------------------------- */

/* Start of the whitespace that ends s[0..n) (Rust's \s*$). */
static size_t trailing_space(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    while (n > 0) {
        size_t b = n - 1;
        while (b > 0 && (u[b] & 0xC0) == 0x80) b--;
        uint32_t cp;
        if (!tok_utf8_decode(u + b, n - b, &cp) || !tok_uni_is_space(cp)) break;
        n = b;
    }
    return n;
}

/* Length of the whitespace that starts s[0..n). */
static size_t leading_space(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + i, n - i, &cp);
        if (!k || !tok_uni_is_space(cp)) break;
        i += k;
    }
    return i;
}

static int word_before(const char *s, size_t at) {
    if (!at) return 0;
    size_t b = at - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    uint32_t cp;
    return tok_utf8_decode((const unsigned char *)s + b, at - b, &cp) && tok_uni_is_word(cp);
}

static int word_after(const char *s, size_t at, size_t n) {
    uint32_t cp;
    return at < n && tok_utf8_decode((const unsigned char *)s + at, n - at, &cp) && tok_uni_is_word(cp);
}

/* The leftmost, then longest, added token of this kind (normalized or not) at or after pos. */
static const tok_added *find_added(const lc_tokenizer *t, const char *s, size_t n, size_t pos, int normalized, size_t *at) {
    for (size_t p = pos; p < n; p++) {
        unsigned b = (unsigned char)s[p];
        for (int32_t k = t->added_start[b]; k < t->added_start[b + 1]; k++) {
            const tok_added *x = &t->added[t->added_order[k]];
            if (x->normalized == normalized && x->match_len <= n - p && !memcmp(s + p, x->match, x->match_len)) return *at = p, x;
        }
    }
    return NULL;
}

/* Splits s[0..n) into text pieces and the added tokens found in it (added_vocabulary.rs:
 * find_matches), appending them to out. */
static lc_status split_added(const lc_tokenizer *t, const char *s, size_t n, int normalized, int first, tok_pieces *out) {
    size_t done = 0, pos = 0, at;
    lc_status st;
    const tok_added *x;
    while (pos < n && (x = find_added(t, s, n, pos, normalized, &at))) {
        size_t start = at, stop = at + x->match_len;
        pos = stop;
        if (x->single_word && (word_before(s, start) || word_after(s, stop, n))) continue;
        if (x->lstrip) {
            size_t ns = trailing_space(s, start);
            start = ns > done ? ns : done;
        }
        if (x->rstrip) stop += leading_space(s + stop, n - stop);
        if (start < done) start = done;
        if (done < start && (st = tok_pieces_push(out, s + done, start - done, -1, first && done == 0))) return st;
        if ((st = tok_pieces_push(out, NULL, 0, x->id, 0))) return st;
        done = pos = stop;
    }
    return done < n ? tok_pieces_push(out, s + done, n - done, -1, first && done == 0) : LC_OK;
}

/* ---- encode ------------------------------------------------------------------------------- */

static lc_status encode_ids(const lc_tokenizer *t, const char *text, size_t len, int add_special, tok_ids *ids) {
    tok_pieces a = {0}, b = {0};
    tok_buf norm = {0};
    tok_bpe_scratch sc = {0};
    lc_status st = split_added(t, text, len, 0, 1, &a);
    for (size_t i = 0; i < a.n && !st; i++) {
        const tok_piece *p = &a.v[i];
        if (p->id >= 0) st = tok_pieces_push(&b, NULL, 0, p->id, 0);
        else if (!(st = tok_normalize(t, a.text.p + p->off, p->len, &norm))) st = split_added(t, norm.p, norm.n, 1, p->first, &b);
    }
    if (!st) st = tok_pretokenize(t, &b, &a);
    if (add_special)
        for (int i = 0; i < t->n_prefix && !st; i++) st = tok_ids_push(ids, t->prefix[i]);
    for (size_t i = 0; i < b.n && !st; i++) {
        const tok_piece *p = &b.v[i];
        st = p->id >= 0 ? tok_ids_push(ids, p->id) : tok_bpe_word(t, b.text.p + p->off, p->len, &sc, ids);
    }
    if (add_special)
        for (int i = 0; i < t->n_suffix && !st; i++) st = tok_ids_push(ids, t->suffix[i]);
    tok_pieces_free(&a);
    tok_pieces_free(&b);
    free(norm.p);
    tok_bpe_scratch_free(&sc);
    return st;
}

static lc_status check_text(const lc_tokenizer *t, const char *text, size_t len, const char *fn) {
    if (!t) return lc_error(LC_EINVAL, "%s: the tokenizer is NULL", fn);
    if (!text && len) return lc_error(LC_EINVAL, "%s: text is NULL", fn);
    size_t ok = text ? tok_utf8_valid_prefix(text, len) : 0;
    if (ok < len) return lc_error(LC_EINVAL, "%s: the text is not valid UTF-8 at byte %zu", fn, ok);
    return LC_OK;
}

lc_status lc_tokenizer_encode(const lc_tokenizer *t, const char *text, size_t len, int add_special, int32_t *ids, int64_t max_ids, int64_t *n_ids) {
    if (!n_ids) return lc_error(LC_EINVAL, "lc_tokenizer_encode: n_ids is NULL");
    *n_ids = 0;
    if (max_ids < 0 || (max_ids > 0 && !ids)) return lc_error(LC_EINVAL, "lc_tokenizer_encode: ids is NULL or max_ids=%lld < 0", (long long)max_ids);
    lc_status st = check_text(t, text, len, "lc_tokenizer_encode");
    if (st) return st;
    tok_ids out = {0};
    if ((st = encode_ids(t, text, len, add_special, &out))) return free(out.v), st;
    *n_ids = (int64_t)out.n;
    size_t k = (int64_t)out.n <= max_ids ? out.n : (size_t)max_ids;
    if (k) memcpy(ids, out.v, k * sizeof *ids);
    free(out.v);
    if (k < out.n) return lc_error(LC_ERANGE, "lc_tokenizer_encode: %zu ids do not fit in max_ids=%lld", out.n, (long long)max_ids);
    return LC_OK;
}

lc_status lc_tokenizer_encode_alloc(const lc_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids, int64_t *n_ids) {
    if (!ids || !n_ids) return lc_error(LC_EINVAL, "lc_tokenizer_encode_alloc: ids or n_ids is NULL");
    *ids = NULL, *n_ids = 0;
    lc_status st = check_text(t, text, len, "lc_tokenizer_encode_alloc");
    if (st) return st;
    tok_ids out = {0};
    if ((st = encode_ids(t, text, len, add_special, &out))) return free(out.v), st;
    if (!out.v && !(out.v = malloc(sizeof *out.v))) return lc_error(LC_ENOMEM, "lc_tokenizer_encode_alloc: out of memory");
    *ids = out.v, *n_ids = (int64_t)out.n;
    return LC_OK;
}

/* ---- decode -------------------------------------------------------------------------------- */

static lc_status decode_buf(const lc_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, tok_buf *out, const char *fn) {
    if (!t) return lc_error(LC_EINVAL, "%s: the tokenizer is NULL", fn);
    if (n < 0 || (n > 0 && !ids)) return lc_error(LC_EINVAL, "%s: ids is NULL or n=%lld < 0", fn, (long long)n);
    const char **strs = malloc(((size_t)n + 1) * sizeof *strs);
    size_t *lens = malloc(((size_t)n + 1) * sizeof *lens);
    lc_status st = LC_OK;
    if (!strs || !lens) st = lc_error(LC_ENOMEM, "%s: out of memory for %lld ids", fn, (long long)n);
    size_t m = 0;
    for (int64_t i = 0; i < n && !st; i++) {
        const tok_added *a = tok_added_by_id(t, ids[i]);
        if (a && a->special && skip_special) continue;
        strs[m] = tok_id_string(t, ids[i], &lens[m]);
        if (strs[m]) m++; /* ids the tokenizer does not know are skipped, as tokenizers does */
    }
    if (!st && t->has_decoder) st = tok_decode_strings(t, strs, lens, m, out);
    else
        for (size_t i = 0; i < m && !st; i++)
            if (!(st = i ? tok_buf_add(out, " ", 1) : LC_OK)) st = tok_buf_add(out, strs[i], lens[i]);
    free(strs);
    free(lens);
    return st;
}

lc_status lc_tokenizer_decode(const lc_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, char *text, size_t cap, size_t *len) {
    if (!len) return lc_error(LC_EINVAL, "lc_tokenizer_decode: len is NULL");
    *len = 0;
    if (cap && !text) return lc_error(LC_EINVAL, "lc_tokenizer_decode: text is NULL with cap=%zu", cap);
    tok_buf out = {0};
    lc_status st = decode_buf(t, ids, n, skip_special, &out, "lc_tokenizer_decode");
    if (st) return free(out.p), st;
    *len = out.n;
    size_t k = out.n <= cap ? out.n : cap;
    if (k) memcpy(text, out.p, k);
    if (out.n < cap) text[out.n] = '\0';
    free(out.p);
    if (k < out.n) return lc_error(LC_ERANGE, "lc_tokenizer_decode: %zu bytes do not fit in cap=%zu", out.n, cap);
    return LC_OK;
}

lc_status lc_tokenizer_decode_alloc(const lc_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, char **text, size_t *len) {
    if (!text || !len) return lc_error(LC_EINVAL, "lc_tokenizer_decode_alloc: text or len is NULL");
    *text = NULL, *len = 0;
    tok_buf out = {0};
    lc_status st = decode_buf(t, ids, n, skip_special, &out, "lc_tokenizer_decode_alloc");
    if (!st) st = tok_buf_reserve(&out, 0);
    if (st) return free(out.p), st;
    out.p[out.n] = '\0';
    *text = out.p, *len = out.n;
    return LC_OK;
}
