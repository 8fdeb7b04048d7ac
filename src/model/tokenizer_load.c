/* Reading tokenizer.json (cJSON) into the pipeline of tokenizer_internal.h. A missing or
 * mistyped field is LC_EFORMAT naming it; a component this reader does not implement is
 * LC_EUNSUPPORTED naming the field and its type. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

typedef struct loader {
    lc_tokenizer *t;
    const char *file;
} loader;

static const cJSON *get(const cJSON *o, const char *name) {
    const cJSON *f = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static lc_status bad(const loader *L, const char *field, const char *what) {
    return lc_error(LC_EFORMAT, "%s: field '%s' %s", L->file, field, what);
}

/* A boolean field; `def` when absent. */
static lc_status get_bool(const loader *L, const cJSON *o, const char *name, const char *where, int def, int *out) {
    const cJSON *f = get(o, name);
    if (!f) return *out = def, LC_OK;
    if (!cJSON_IsBool(f)) return lc_error(LC_EFORMAT, "%s: field '%s.%s' must be true or false", L->file, where, name);
    *out = cJSON_IsTrue(f);
    return LC_OK;
}

/* An integer field in [lo, hi]. */
static lc_status get_int(const loader *L, const cJSON *f, const char *field, double lo, double hi, int64_t *out) {
    /* the range first: converting a double past int64 to int64 is undefined */
    if (!cJSON_IsNumber(f) || !(f->valuedouble >= lo && f->valuedouble <= hi) || f->valuedouble != (double)(int64_t)f->valuedouble)
        return lc_error(LC_EFORMAT, "%s: field '%s' must be an integer in [%.0f, %.0f]", L->file, field, lo, hi);
    *out = (int64_t)f->valuedouble;
    return LC_OK;
}

/* A required string field (may be empty). */
static lc_status get_str(const loader *L, const cJSON *o, const char *name, const char *where, const char **out) {
    const cJSON *f = get(o, name);
    if (!f) return lc_error(LC_EFORMAT, "%s: missing field '%s.%s'", L->file, where, name);
    if (!cJSON_IsString(f)) return lc_error(LC_EFORMAT, "%s: field '%s.%s' must be a string", L->file, where, name);
    *out = f->valuestring;
    return LC_OK;
}

static char *dup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n), p[n] = '\0';
    return p;
}

/* A string of exactly one character, as its code point. */
static lc_status one_char(const loader *L, const char *s, const char *field, uint32_t *cp) {
    size_t n = strlen(s), k = n ? tok_utf8_decode((const unsigned char *)s, n, cp) : 0;
    if (!k || k != n) return lc_error(LC_EFORMAT, "%s: field '%s' must be a single character, not '%s'", L->file, field, s);
    return LC_OK;
}

/* {"String": s} or {"Regex": r}: the literal, or for a regex its known kind (*re >= 0). */
static lc_status get_pattern(const loader *L, const cJSON *o, const char *where, const char **lit, int *re) {
    const cJSON *p = get(o, "pattern");
    const cJSON *s = get(p, "String"), *r = get(p, "Regex");
    *lit = NULL, *re = -1;
    if (cJSON_IsString(s)) return *lit = s->valuestring, LC_OK;
    if (cJSON_IsString(r)) {
        *re = tok_regex_lookup(r->valuestring);
        if (*re < 0)
            return lc_error(LC_EUNSUPPORTED, "%s: %s.pattern: the regex '%s' is not supported (only the GPT-2, Llama-3 and Qwen2 pre-tokenizer regexes)",
                            L->file, where, r->valuestring);
        return LC_OK;
    }
    return lc_error(LC_EFORMAT, "%s: field '%s.pattern' must be {\"String\": ...} or {\"Regex\": ...}", L->file, where);
}

static lc_status get_type(const loader *L, const cJSON *o, const char *where, const char **type) {
    if (!cJSON_IsObject(o)) return lc_error(LC_EFORMAT, "%s: field '%s' must be an object", L->file, where);
    return get_str(L, o, "type", where, type);
}

static lc_status unsupported(const loader *L, const char *where, const char *type) {
    return lc_error(LC_EUNSUPPORTED, "%s: %s.type '%s' is not supported", L->file, where, type);
}

static lc_status prepend_scheme(const loader *L, const cJSON *o, const char *where, tok_prepend *out) {
    const cJSON *f = get(o, "prepend_scheme");
    int aps = 1;
    lc_status st = get_bool(L, o, "add_prefix_space", where, 1, &aps);
    if (st) return st;
    *out = TOK_PREPEND_ALWAYS;
    if (f) {
        if (!cJSON_IsString(f)) return lc_error(LC_EFORMAT, "%s: field '%s.prepend_scheme' must be a string", L->file, where);
        if (!strcmp(f->valuestring, "first")) *out = TOK_PREPEND_FIRST;
        else if (!strcmp(f->valuestring, "never")) *out = TOK_PREPEND_NEVER;
        else if (strcmp(f->valuestring, "always"))
            return lc_error(LC_EFORMAT, "%s: %s.prepend_scheme '%s' must be first, always or never", L->file, where, f->valuestring);
    }
    if (!aps) *out = TOK_PREPEND_NEVER;
    return LC_OK;
}

/* ---- the model --------------------------------------------------------------------------- */

static lc_status load_merges(const loader *L, const cJSON *merges) {
    lc_tokenizer *t = L->t;
    if (!cJSON_IsArray(merges)) return bad(L, "model.merges", "must be an array");
    int n = cJSON_GetArraySize(merges);
    lc_status st = tok_merges_init(&t->merges, (size_t)n);
    if (st) return st;
    tok_buf cat = {0};
    uint32_t rank = 0;
    for (const cJSON *m = merges->child; m && !st; m = m->next, rank++) {
        const char *a, *b;
        size_t an, bn;
        char field[64];
        snprintf(field, sizeof field, "model.merges[%u]", rank);
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = bad(L, field, "must hold two tokens separated by one space");
                break;
            }
            a = m->valuestring, an = (size_t)(sp - a), b = sp + 1, bn = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            a = m->child->valuestring, an = strlen(a), b = m->child->next->valuestring, bn = strlen(b);
        } else {
            st = bad(L, field, "must be \"a b\" or [\"a\", \"b\"]");
            break;
        }
        int32_t ia = tok_vocab_find(&t->vocab, a, an), ib = tok_vocab_find(&t->vocab, b, bn);
        cat.n = 0;
        if ((st = tok_buf_add(&cat, a, an)) || (st = tok_buf_add(&cat, b, bn))) break;
        int32_t im = tok_vocab_find(&t->vocab, cat.p, cat.n);
        if (ia < 0 || ib < 0 || im < 0) {
            st = lc_error(LC_EFORMAT, "%s: %s: '%.*s' is not in model.vocab", L->file, field, (int)(ia < 0 ? an : ib < 0 ? bn : cat.n),
                          ia < 0 ? a : ib < 0 ? b : cat.p);
            break;
        }
        st = tok_merges_set(&t->merges, ia, ib, rank, im);
    }
    free(cat.p);
    return st;
}

static lc_status load_model(const loader *L, const cJSON *root, int32_t max_added) {
    lc_tokenizer *t = L->t;
    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(model)) return bad(L, "model", model ? "must be an object" : "is missing");
    const cJSON *type = get(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE")))
        return lc_error(LC_EUNSUPPORTED, "%s: model.type '%s' is not supported (only BPE)", L->file, cJSON_IsString(type) ? type->valuestring : "?");
    const cJSON *vocab = get(model, "vocab"), *merges = get(model, "merges");
    if (!type && !merges) return lc_error(LC_EUNSUPPORTED, "%s: model has no 'type' and no 'merges': only BPE models are supported", L->file);
    if (!cJSON_IsObject(vocab)) return bad(L, "model.vocab", vocab ? "must be an object of token: id" : "is missing");
    if (!merges) return bad(L, "model.merges", "is missing");
    int64_t max_id = max_added;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id = 0;
        char field[48];
        snprintf(field, sizeof field, "model.vocab[\"%.20s\"]", e->string);
        lc_status st = get_int(L, e, field, 0, TOK_MAX_IDS - 1, &id);
        if (st) return st;
        if (id > max_id) max_id = id;
    }
    t->max_id = (int32_t)max_id;
    lc_status st = tok_vocab_init(&t->vocab, (int32_t)max_id + 1, (size_t)cJSON_GetArraySize(vocab));
    for (const cJSON *e = vocab->child; e && !st; e = e->next) st = tok_vocab_set(&t->vocab, (int32_t)e->valuedouble, e->string, strlen(e->string));
    if (st || (st = load_merges(L, merges))) return st;

    if ((st = get_bool(L, model, "byte_fallback", "model", 0, &t->byte_fallback)) || (st = get_bool(L, model, "ignore_merges", "model", 0, &t->ignore_merges)) ||
        (st = get_bool(L, model, "fuse_unk", "model", 0, &t->fuse_unk)))
        return st;
    const char *fields[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *f = get(model, fields[i]);
        if (f && (!cJSON_IsString(f) || f->valuestring[0]))
            return lc_error(LC_EUNSUPPORTED, "%s: model.%s is not supported (only null)", L->file, fields[i]);
    }
    const cJSON *dropout = get(model, "dropout");
    if (dropout && (!cJSON_IsNumber(dropout) || dropout->valuedouble != 0))
        return lc_error(LC_EUNSUPPORTED, "%s: model.dropout is not supported (only null or 0)", L->file);
    const cJSON *unk = get(model, "unk_token");
    t->unk_id = -1;
    if (unk) {
        if (!cJSON_IsString(unk)) return bad(L, "model.unk_token", "must be a string or null");
        t->unk_id = tok_vocab_find(&t->vocab, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0) t->unk_id = -2; /* named but absent: an error if ever needed */
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tok_vocab_find(&t->vocab, name, 6);
    }
    return LC_OK;
}

/* ---- added tokens ------------------------------------------------------------------------- */

static int32_t added_max_id(const cJSON *root) {
    int32_t m = -1;
    const cJSON *added = get(root, "added_tokens");
    if (cJSON_IsArray(added))
        for (const cJSON *a = added->child; a; a = a->next) {
            const cJSON *id = get(a, "id");
            if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < TOK_MAX_IDS && id->valuedouble > m) m = (int32_t)id->valuedouble;
        }
    return m;
}

static lc_status load_added(const loader *L, const cJSON *root) {
    lc_tokenizer *t = L->t;
    const cJSON *added = get(root, "added_tokens");
    if (!added) return LC_OK;
    if (!cJSON_IsArray(added)) return bad(L, "added_tokens", "must be an array");
    int n = cJSON_GetArraySize(added);
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added) return lc_error(LC_ENOMEM, "tokenizer: out of memory for %d added tokens", n);
    int k = 0;
    for (const cJSON *a = added->child; a; a = a->next, k++) {
        char where[32];
        snprintf(where, sizeof where, "added_tokens[%d]", k);
        const char *content;
        int64_t id = 0;
        int special = 0, lstrip = 0, rstrip = 0, normalized = 0, single_word = 0;
        const cJSON *idf = get(a, "id");
        lc_status st = get_str(L, a, "content", where, &content);
        if (!st && !idf) st = lc_error(LC_EFORMAT, "%s: missing field '%s.id'", L->file, where);
        char field[48];
        snprintf(field, sizeof field, "%s.id", where);
        if (!st) st = get_int(L, idf, field, 0, TOK_MAX_IDS - 1, &id);
        if (!st) st = get_bool(L, a, "special", where, 0, &special);
        if (!st) st = get_bool(L, a, "lstrip", where, 0, &lstrip);
        if (!st) st = get_bool(L, a, "rstrip", where, 0, &rstrip);
        if (!st) st = get_bool(L, a, "single_word", where, 0, &single_word);
        if (!st) st = get_bool(L, a, "normalized", where, !special, &normalized);
        if (st) return st;
        if (!content[0]) continue; /* tokenizers ignores empty tokens */
        tok_added *x = &t->added[t->n_added];
        x->len = strlen(content);
        if (!(x->content = dup(content, x->len))) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
        x->id = (int32_t)id;
        x->special = (uint8_t)special, x->lstrip = (uint8_t)lstrip, x->rstrip = (uint8_t)rstrip;
        x->normalized = (uint8_t)normalized, x->single_word = (uint8_t)single_word;
        t->n_added++;
    }
    return LC_OK;
}

/* What each added token is searched for (normalized ones: their normalized form), and the
 * search order: by first byte, longest first. */
static lc_status index_added(lc_tokenizer *t) {
    tok_buf nb = {0};
    for (int32_t i = 0; i < t->n_added; i++) {
        tok_added *x = &t->added[i];
        const char *m = x->content;
        size_t mn = x->len;
        if (x->normalized && t->n_norms && tok_normalize(t, x->content, x->len, &nb) == LC_OK && nb.n) m = nb.p, mn = nb.n;
        if (!(x->match = dup(m, mn))) return free(nb.p), lc_error(LC_ENOMEM, "tokenizer: out of memory");
        x->match_len = mn;
    }
    free(nb.p);
    t->added_order = malloc(((size_t)t->n_added + 1) * sizeof *t->added_order);
    if (!t->added_order) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    int32_t k = 0;
    for (int b = 0; b < 256; b++) {
        t->added_start[b] = k;
        int32_t from = k;
        for (int32_t i = 0; i < t->n_added; i++)
            if ((unsigned char)t->added[i].match[0] == b) {
                int32_t j = k++; /* insertion by length, longest first; ties keep file order */
                while (j > from && t->added[t->added_order[j - 1]].match_len < t->added[i].match_len) t->added_order[j] = t->added_order[j - 1], j--;
                t->added_order[j] = i;
            }
    }
    t->added_start[256] = k;
    return LC_OK;
}

/* ---- normalizers, pre-tokenizers, decoders ------------------------------------------------ */

static lc_status grow_array(void **p, int n, size_t elem) {
    void *q = realloc(*p, (size_t)(n + 1) * elem);
    if (!q) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    *p = q;
    memset((char *)q + (size_t)n * elem, 0, elem);
    return LC_OK;
}

static lc_status load_normalizer(const loader *L, const cJSON *o, const char *where, int depth) {
    lc_tokenizer *t = L->t;
    const char *type;
    lc_status st = get_type(L, o, where, &type);
    if (st) return st;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "normalizers");
        if (!cJSON_IsArray(list)) return lc_error(LC_EFORMAT, "%s: field '%s.normalizers' must be an array", L->file, where);
        if (depth > 8) return lc_error(LC_EFORMAT, "%s: %s: Sequence nested too deep", L->file, where);
        for (const cJSON *e = list->child; e && !st; e = e->next) st = load_normalizer(L, e, where, depth + 1);
        return st;
    }
    if ((st = grow_array((void **)&t->norms, t->n_norms, sizeof *t->norms))) return st;
    tok_normalizer *z = &t->norms[t->n_norms];
    const char *a = NULL, *b = NULL;
    if (!strcmp(type, "Prepend")) {
        z->kind = TOK_NORM_PREPEND;
        st = get_str(L, o, "prepend", where, &a);
    } else if (!strcmp(type, "Replace")) {
        int re;
        z->kind = TOK_NORM_REPLACE;
        if (!(st = get_pattern(L, o, where, &a, &re)) && re >= 0)
            st = lc_error(LC_EUNSUPPORTED, "%s: %s: Replace with a regex pattern is not supported", L->file, where);
        if (!st) st = get_str(L, o, "content", where, &b);
    } else if (!strcmp(type, "Lowercase")) {
        z->kind = TOK_NORM_LOWERCASE;
    } else if (!strcmp(type, "NFC")) {
        z->kind = TOK_NORM_NFC;
    } else {
        return unsupported(L, where, type);
    }
    if (st) return st;
    if (a && !(z->a = dup(a, z->a_len = strlen(a)))) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    if (b && !(z->b = dup(b, z->b_len = strlen(b)))) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    t->n_norms++;
    return LC_OK;
}

static lc_status behavior(const loader *L, const cJSON *o, const char *where, tok_behavior *out) {
    const char *b;
    lc_status st = get_str(L, o, "behavior", where, &b);
    if (st) return st;
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(b, names[i])) return *out = (tok_behavior)i, LC_OK;
    return lc_error(LC_EFORMAT, "%s: %s.behavior '%s' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", L->file, where, b);
}

static lc_status load_pretok(const loader *L, const cJSON *o, const char *where, int depth) {
    lc_tokenizer *t = L->t;
    const char *type;
    lc_status st = get_type(L, o, where, &type);
    if (st) return st;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "pretokenizers");
        if (!cJSON_IsArray(list)) return lc_error(LC_EFORMAT, "%s: field '%s.pretokenizers' must be an array", L->file, where);
        if (depth > 8) return lc_error(LC_EFORMAT, "%s: %s: Sequence nested too deep", L->file, where);
        for (const cJSON *e = list->child; e && !st; e = e->next) st = load_pretok(L, e, where, depth + 1);
        return st;
    }
    if ((st = grow_array((void **)&t->pretoks, t->n_pretoks, sizeof *t->pretoks))) return st;
    tok_pretok *p = &t->pretoks[t->n_pretoks];
    if (!strcmp(type, "ByteLevel")) {
        p->kind = TOK_PRE_BYTELEVEL;
        if (!(st = get_bool(L, o, "add_prefix_space", where, 1, &p->add_prefix_space))) st = get_bool(L, o, "use_regex", where, 1, &p->use_regex);
    } else if (!strcmp(type, "Split")) {
        const char *lit;
        int re;
        if (!(st = get_pattern(L, o, where, &lit, &re)) && !(st = behavior(L, o, where, &p->behavior))) st = get_bool(L, o, "invert", where, 0, &p->invert);
        if (!st && re >= 0) p->kind = TOK_PRE_SPLIT_REGEX, p->regex = (tok_regex)re;
        else if (!st) {
            p->kind = TOK_PRE_SPLIT_STRING;
            if (!(p->str = dup(lit, p->str_len = strlen(lit)))) st = lc_error(LC_ENOMEM, "tokenizer: out of memory");
        }
    } else if (!strcmp(type, "Metaspace")) {
        const char *rep;
        p->kind = TOK_PRE_METASPACE;
        if (!(st = get_str(L, o, "replacement", where, &rep)) && !(st = one_char(L, rep, "pre_tokenizer.replacement", &p->replacement)) &&
            !(st = prepend_scheme(L, o, where, &p->prepend)))
            st = get_bool(L, o, "split", where, 1, &p->split);
    } else if (!strcmp(type, "Digits")) {
        p->kind = TOK_PRE_DIGITS;
        st = get_bool(L, o, "individual_digits", where, 0, &p->individual_digits);
    } else {
        return unsupported(L, where, type);
    }
    if (!st) t->n_pretoks++;
    else free(p->str), p->str = NULL;
    return st;
}

static lc_status load_decoder(const loader *L, const cJSON *o, const char *where, int depth) {
    lc_tokenizer *t = L->t;
    const char *type;
    lc_status st = get_type(L, o, where, &type);
    if (st) return st;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "decoders");
        if (!cJSON_IsArray(list)) return lc_error(LC_EFORMAT, "%s: field '%s.decoders' must be an array", L->file, where);
        if (depth > 8) return lc_error(LC_EFORMAT, "%s: %s: Sequence nested too deep", L->file, where);
        for (const cJSON *e = list->child; e && !st; e = e->next) st = load_decoder(L, e, where, depth + 1);
        return st;
    }
    if ((st = grow_array((void **)&t->decoders, t->n_decoders, sizeof *t->decoders))) return st;
    tok_decoder *d = &t->decoders[t->n_decoders];
    const char *a = NULL, *b = NULL, *rep;
    if (!strcmp(type, "ByteLevel")) {
        d->kind = TOK_DEC_BYTELEVEL;
    } else if (!strcmp(type, "ByteFallback")) {
        d->kind = TOK_DEC_BYTEFALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        d->kind = TOK_DEC_FUSE;
    } else if (!strcmp(type, "Metaspace")) {
        d->kind = TOK_DEC_METASPACE;
        if (!(st = get_str(L, o, "replacement", where, &rep)) && !(st = one_char(L, rep, "decoder.replacement", &d->ch)))
            st = prepend_scheme(L, o, where, &d->prepend);
    } else if (!strcmp(type, "Replace")) {
        int re;
        d->kind = TOK_DEC_REPLACE;
        if (!(st = get_pattern(L, o, where, &a, &re)) && re >= 0)
            st = lc_error(LC_EUNSUPPORTED, "%s: %s: Replace with a regex pattern is not supported", L->file, where);
        if (!st) st = get_str(L, o, "content", where, &b);
    } else if (!strcmp(type, "Strip")) {
        d->kind = TOK_DEC_STRIP;
        const cJSON *start = get(o, "start"), *stop = get(o, "stop");
        if (!(st = get_str(L, o, "content", where, &rep)) && !(st = one_char(L, rep, "decoder.content", &d->ch))) {
            if (!start || !stop) st = lc_error(LC_EFORMAT, "%s: missing field '%s.%s'", L->file, where, start ? "stop" : "start");
            else if (!(st = get_int(L, start, "decoder.start", 0, 1e9, &d->start))) st = get_int(L, stop, "decoder.stop", 0, 1e9, &d->stop);
        }
    } else {
        return unsupported(L, where, type);
    }
    if (st) return st;
    if (a && !(d->a = dup(a, d->a_len = strlen(a)))) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    if (b && !(d->b = dup(b, d->b_len = strlen(b)))) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    t->n_decoders++;
    return LC_OK;
}

/* ---- the post-processor ------------------------------------------------------------------- */

static lc_status add_ids(int32_t **v, int *n, const int32_t *ids, int k) {
    int32_t *q = realloc(*v, (size_t)(*n + k + 1) * sizeof *q);
    if (!q) return lc_error(LC_ENOMEM, "tokenizer: out of memory");
    if (k) memcpy(q + *n, ids, (size_t)k * sizeof *q);
    *v = q, *n += k;
    return LC_OK;
}

/* ["<s>", 0] of Roberta / Bert. */
static lc_status pair_id(const loader *L, const cJSON *o, const char *name, int32_t *id) {
    const cJSON *f = get(o, name);
    int64_t v = 0;
    char field[48];
    snprintf(field, sizeof field, "post_processor.%s[1]", name);
    if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) != 2) return lc_error(LC_EFORMAT, "%s: field 'post_processor.%s' must be [token, id]", L->file, name);
    lc_status st = get_int(L, cJSON_GetArrayItem(f, 1), field, 0, TOK_MAX_IDS - 1, &v);
    *id = (int32_t)v;
    return st;
}

/* A processor applied after those before it wraps their output: its prefix goes first,
 * its suffix last. */
static lc_status wrap(lc_tokenizer *t, const int32_t *pre, int n_pre, const int32_t *suf, int n_suf) {
    int32_t *p = NULL;
    int np = 0;
    lc_status st = add_ids(&p, &np, pre, n_pre);
    if (!st && t->n_prefix) st = add_ids(&p, &np, t->prefix, t->n_prefix);
    if (!st) st = add_ids(&t->suffix, &t->n_suffix, suf, n_suf);
    if (st) return free(p), st;
    free(t->prefix);
    t->prefix = p, t->n_prefix = np;
    return LC_OK;
}

static lc_status load_template(const loader *L, const cJSON *o) {
    const cJSON *single = get(o, "single"), *specials = get(o, "special_tokens");
    if (!cJSON_IsArray(single)) return bad(L, "post_processor.single", "must be an array");
    int seen_a = 0, n_pre = 0, n_suf = 0;
    int32_t *pre = NULL, *suf = NULL;
    lc_status st = LC_OK;
    for (const cJSON *item = single->child; item && !st; item = item->next) {
        const cJSON *seq = get(item, "Sequence"), *sp = get(item, "SpecialToken");
        if (seq) {
            seen_a = 1;
            continue;
        }
        const cJSON *name = get(sp, "id");
        if (!cJSON_IsString(name)) {
            st = bad(L, "post_processor.single", "items must be {\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}");
            break;
        }
        const cJSON *def = cJSON_IsObject(specials) ? cJSON_GetObjectItemCaseSensitive(specials, name->valuestring) : NULL;
        const cJSON *ids = get(def, "ids");
        if (!cJSON_IsArray(ids)) {
            st = lc_error(LC_EFORMAT, "%s: post_processor.special_tokens has no ids for '%s'", L->file, name->valuestring);
            break;
        }
        for (const cJSON *e = ids->child; e && !st; e = e->next) {
            int64_t v = 0;
            if ((st = get_int(L, e, "post_processor.special_tokens[].ids[]", 0, TOK_MAX_IDS - 1, &v))) break;
            int32_t id = (int32_t)v;
            st = seen_a ? add_ids(&suf, &n_suf, &id, 1) : add_ids(&pre, &n_pre, &id, 1);
        }
    }
    if (!st) st = wrap(L->t, pre, n_pre, suf, n_suf);
    free(pre);
    free(suf);
    return st;
}

static lc_status load_post(const loader *L, const cJSON *o, int depth) {
    const char *type;
    lc_status st = get_type(L, o, "post_processor", &type);
    if (st) return st;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = get(o, "processors");
        if (!cJSON_IsArray(list)) return bad(L, "post_processor.processors", "must be an array");
        if (depth > 8) return lc_error(LC_EFORMAT, "%s: post_processor: Sequence nested too deep", L->file);
        for (const cJSON *e = list->child; e && !st; e = e->next) st = load_post(L, e, depth + 1);
        return st;
    }
    if (!strcmp(type, "ByteLevel")) return LC_OK; /* trims offsets only */
    if (!strcmp(type, "TemplateProcessing")) return load_template(L, o);
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        int32_t cls, sep;
        if ((st = pair_id(L, o, "cls", &cls)) || (st = pair_id(L, o, "sep", &sep))) return st;
        return wrap(L->t, &cls, 1, &sep, 1);
    }
    return unsupported(L, "post_processor", type);
}

/* ---- tokenizer_config.json ----------------------------------------------------------------- */

static const char *config_token(const cJSON *cfg, const char *name) {
    const cJSON *f = get(cfg, name);
    if (cJSON_IsString(f)) return f->valuestring;
    const cJSON *c = get(f, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int32_t lookup(const lc_tokenizer *t, const char *s) {
    int32_t id;
    return s && lc_tokenizer_token_id(t, s, &id) == LC_OK ? id : -1;
}

static void special_ids(lc_tokenizer *t, const cJSON *cfg) {
    t->bos = lookup(t, config_token(cfg, "bos_token"));
    t->eos = lookup(t, config_token(cfg, "eos_token"));
    if (t->bos < 0 && t->n_prefix) t->bos = t->prefix[0];
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<bos>"};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"};
    for (int i = 0; i < 3 && t->bos < 0; i++) t->bos = lookup(t, bos_names[i]);
    for (int i = 0; i < 4 && t->eos < 0; i++) t->eos = lookup(t, eos_names[i]);
    if (!cfg || t->n_prefix || t->n_suffix) return; /* the post-processor already decides */
    const cJSON *ab = get(cfg, "add_bos_token"), *ae = get(cfg, "add_eos_token");
    if (cJSON_IsTrue(ab) && t->bos >= 0) add_ids(&t->prefix, &t->n_prefix, &t->bos, 1);
    if (cJSON_IsTrue(ae) && t->eos >= 0) add_ids(&t->suffix, &t->n_suffix, &t->eos, 1);
}

/* ---- the whole file ------------------------------------------------------------------------- */

static lc_status read_json(const char *path, int optional, cJSON **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return optional ? LC_OK : lc_error(LC_EIO, "%s: cannot open the file (%s)", path, strerror(errno));
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *q = realloc(data, cap + 1);
            if (!q) return free(data), fclose(f), lc_error(LC_ENOMEM, "%s: out of memory reading the file", path);
            data = q;
        }
        size_t k = fread(data + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) return free(data), lc_error(LC_EIO, "%s: reading the file failed", path);
    data[n] = '\0';
    *out = cJSON_ParseWithLength(data, n);
    if (!*out) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= data && at <= data + n ? (long)(at - data) : -1;
        free(data);
        return lc_error(LC_EFORMAT, "%s: not valid JSON (near byte %ld)", path, off);
    }
    free(data);
    if (!cJSON_IsObject(*out)) return cJSON_Delete(*out), *out = NULL, lc_error(LC_EFORMAT, "%s: the top level must be a JSON object", path);
    return LC_OK;
}

lc_status tok_load(lc_tokenizer *t, const char *json_path, const char *config_path) {
    snprintf(t->path, sizeof t->path, "%s", json_path);
    t->bos = t->eos = -1;
    loader L = {t, t->path};
    cJSON *root, *cfg = NULL;
    lc_status st = read_json(json_path, 0, &root);
    if (st) return st;
    if (config_path && (st = read_json(config_path, 1, &cfg))) return cJSON_Delete(root), st;
    if (!(st = load_added(&L, root)) && !(st = load_model(&L, root, added_max_id(root)))) {
        const cJSON *n = get(root, "normalizer"), *p = get(root, "pre_tokenizer"), *pp = get(root, "post_processor"), *d = get(root, "decoder");
        if (n) st = load_normalizer(&L, n, "normalizer", 0);
        if (!st && p) st = load_pretok(&L, p, "pre_tokenizer", 0);
        if (!st && pp) st = load_post(&L, pp, 0);
        if (!st && d) st = load_decoder(&L, d, "decoder", 0);
        t->has_decoder = d != NULL;
        if (!st) st = index_added(t);
    }
    if (!st) special_ids(t, cfg);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return st;
}

void tok_unload(lc_tokenizer *t) {
    tok_vocab_free(&t->vocab);
    tok_merges_free(&t->merges);
    for (int32_t i = 0; i < t->n_added; i++) free(t->added[i].content), free(t->added[i].match);
    free(t->added);
    free(t->added_order);
    for (int i = 0; i < t->n_norms; i++) free(t->norms[i].a), free(t->norms[i].b);
    free(t->norms);
    for (int i = 0; i < t->n_pretoks; i++) free(t->pretoks[i].str);
    free(t->pretoks);
    for (int i = 0; i < t->n_decoders; i++) free(t->decoders[i].a), free(t->decoders[i].b);
    free(t->decoders);
    free(t->prefix);
    free(t->suffix);
}
