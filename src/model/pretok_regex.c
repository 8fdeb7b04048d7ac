/* The pre-tokenizer regexes of GPT-2, Llama 3 and Qwen2, matched by hand. `tokenizers`
 * runs them with Oniguruma (leftmost match, alternatives tried in order, greedy with
 * backtracking); each alternative below is that search worked out for its shape. Every
 * character starts some alternative, so the matches cover the text back to back and the
 * split is "match at i, continue at its end".
 *
 *   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *            | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2:   the same with \p{N} for \p{N}{1,3}. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

static const char *const patterns[] = {
    [TOK_RE_GPT2] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    [TOK_RE_LLAMA3] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [TOK_RE_QWEN2] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

int tok_regex_lookup(const char *pattern) {
    for (int i = 0; i < (int)(sizeof patterns / sizeof *patterns); i++)
        if (!strcmp(pattern, patterns[i])) return i;
    return -1;
}

enum { C_L = 1, C_N = 2, C_S = 4, C_NL = 8 }; /* letter, number, \s, \r or \n */

typedef struct text {
    const uint32_t *cp;
    const uint8_t *cls;
    size_t n;
} text;

static int is_o(const text *t, size_t i) { return i < t->n && !(t->cls[i] & (C_L | C_N | C_S)); } /* [^\s\p{L}\p{N}] */
static int has(const text *t, size_t i, int c) { return i < t->n && (t->cls[i] & c); }
static size_t run(const text *t, size_t i, int c) {
    while (i < t->n && (t->cls[i] & c)) i++;
    return i;
}
static size_t run_o(const text *t, size_t i) {
    while (is_o(t, i)) i++;
    return i;
}

/* (?i) folding of the letters the contractions use; U+017F (long s) folds to s. */
static uint32_t fold(uint32_t c, int icase) {
    if (!icase) return c;
    return c >= 'A' && c <= 'Z' ? c + 32 : c == 0x17F ? 's' : c;
}

/* 's 't 're 've 'm 'll 'd at i: the end, or 0. */
static size_t contraction(const text *t, size_t i, int icase) {
    if (t->cp[i] != '\'' || i + 1 >= t->n) return 0;
    uint32_t a = fold(t->cp[i + 1], icase), b = i + 2 < t->n ? fold(t->cp[i + 2], icase) : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
}

/* \s+(?!\S) then \s+, at a whitespace character i. */
static size_t spaces(const text *t, size_t i) {
    size_t j = run(t, i, C_S);
    if (j == t->n || j - i == 1) return j; /* to the end; or one space before \S: \s+ */
    return j - 1;                          /* leave the last space to the word after it */
}

static size_t match_gpt2(const text *t, size_t i) {
    size_t e = contraction(t, i, 0);
    if (e) return e;
    size_t k = t->cp[i] == ' ' ? i + 1 : i; /* the optional leading space */
    if (has(t, k, C_L)) return run(t, k, C_L);
    if (has(t, k, C_N)) return run(t, k, C_N);
    if (is_o(t, k)) return run_o(t, k);
    return spaces(t, i); /* i is whitespace here */
}

static size_t match_llama(const text *t, size_t i, size_t max_digits) {
    size_t e = contraction(t, i, 1);
    if (e) return e;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (has(t, i, C_L)) return run(t, i, C_L);
    if (!has(t, i, C_NL | C_N) && has(t, i + 1, C_L)) return run(t, i + 1, C_L);
    /* \p{N}{1,3} or \p{N} */
    if (has(t, i, C_N)) {
        size_t j = i;
        while (j < t->n && j - i < max_digits && (t->cls[j] & C_N)) j++;
        return j;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t k = t->cp[i] == ' ' ? i + 1 : i;
    if (is_o(t, k)) return run(t, run_o(t, k), C_NL);
    /* \s*[\r\n]+ : up to the last \r or \n of the whitespace run */
    size_t j = run(t, i, C_S);
    for (size_t p = j; p > i; p--)
        if (t->cls[p - 1] & C_NL) return p;
    return spaces(t, i);
}

lc_status tok_regex_split(tok_regex re, const char *s, size_t n, size_t **ends, size_t *n_ends, size_t *cap) {
    *n_ends = 0;
    if (!n) return LC_OK;
    uint32_t *cp = malloc(n * sizeof *cp);
    uint8_t *cls = malloc(n);
    size_t *at = malloc((n + 1) * sizeof *at); /* byte offset of each code point */
    if (!cp || !cls || !at) {
        free(cp), free(cls), free(at);
        return lc_error(LC_ENOMEM, "tokenizer: out of memory splitting %zu bytes", n);
    }
    size_t m = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; m++) {
        size_t k = tok_utf8_decode(u + i, n - i, &cp[m]);
        if (!k) cp[m] = u[i], k = 1; /* not reached: the text was checked */
        unsigned c = tok_uni_class(cp[m]);
        cls[m] = (uint8_t)(((c & TOK_UNI_LETTER) ? C_L : 0) | ((c & TOK_UNI_NUMBER) ? C_N : 0) | ((c & TOK_UNI_SPACE) ? C_S : 0) |
                           ((cp[m] == '\r' || cp[m] == '\n') ? C_NL : 0));
        at[m] = i;
        i += k;
    }
    at[m] = n;
    text t = {cp, cls, m};
    lc_status st = LC_OK;
    for (size_t i = 0; i < m;) {
        size_t e = re == TOK_RE_GPT2 ? match_gpt2(&t, i) : match_llama(&t, i, re == TOK_RE_LLAMA3 ? 3 : 1);
        if (e <= i) e = i + 1; /* not reached: every character starts a match */
        if (*n_ends == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            size_t *q = realloc(*ends, c * sizeof *q);
            if (!q) {
                st = lc_error(LC_ENOMEM, "tokenizer: out of memory splitting %zu bytes", n);
                break;
            }
            *ends = q, *cap = c;
        }
        (*ends)[(*n_ends)++] = at[e];
        i = e;
    }
    free(cp), free(cls), free(at);
    return st;
}
