/* The BPE model: the vocabulary (ids by string and back), the merge ranks, and the merge
 * loop of one pre-token. The loop is the one of `tokenizers` (models/bpe/word.rs): a
 * linked list of symbols and a min-heap of candidate merges ordered by (rank, position),
 * so a word of L symbols costs O(L log L), and the same merges happen in the same order. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

/* ---- vocabulary ------------------------------------------------------------------------ */

lc_status tok_vocab_init(tok_vocab *v, int32_t n_ids, size_t expected) {
    memset(v, 0, sizeof *v);
    size_t slots = pow2_at_least(2 * expected + 2);
    if (slots > UINT32_MAX) return lc_error(LC_ENOMEM, "tokenizer: vocabulary of %zu strings is too large", expected);
    v->n = n_ids;
    v->off = calloc((size_t)n_ids + 1, sizeof *v->off);
    v->len = malloc(((size_t)n_ids + 1) * sizeof *v->len);
    v->slots = malloc(slots * sizeof *v->slots);
    if (!v->off || !v->len || !v->slots) return tok_vocab_free(v), lc_error(LC_ENOMEM, "tokenizer: out of memory for a vocabulary of %d ids", n_ids);
    for (int32_t i = 0; i <= n_ids; i++) v->len[i] = UINT32_MAX;
    for (size_t i = 0; i < slots; i++) v->slots[i] = -1;
    v->mask = (uint32_t)(slots - 1);
    return LC_OK;
}

static int same(const tok_vocab *v, int32_t id, const char *s, size_t n) {
    return v->len[id] == n && !memcmp(v->bytes.p + v->off[id], s, n);
}

static lc_status rehash(tok_vocab *v) {
    size_t slots = ((size_t)v->mask + 1) * 2;
    if (slots > UINT32_MAX) return lc_error(LC_ENOMEM, "tokenizer: vocabulary too large");
    int32_t *ns = malloc(slots * sizeof *ns);
    if (!ns) return lc_error(LC_ENOMEM, "tokenizer: out of memory growing the vocabulary");
    for (size_t i = 0; i < slots; i++) ns[i] = -1;
    for (size_t i = 0; i <= v->mask; i++) {
        int32_t id = v->slots[i];
        if (id < 0) continue;
        size_t h = (size_t)hash_bytes(v->bytes.p + v->off[id], v->len[id]) & (slots - 1);
        while (ns[h] >= 0) h = (h + 1) & (slots - 1);
        ns[h] = id;
    }
    free(v->slots);
    v->slots = ns;
    v->mask = (uint32_t)(slots - 1);
    return LC_OK;
}

lc_status tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t n) {
    if (id < 0 || id >= v->n) return lc_error(LC_EINTERNAL, "tokenizer: id %d outside the vocabulary table", id);
    if (v->bytes.n + n + 1 > UINT32_MAX) return lc_error(LC_ENOMEM, "tokenizer: vocabulary strings pass 4 GiB");
    if ((size_t)(v->count + 1) * 2 > (size_t)v->mask + 1) {
        lc_status st = rehash(v);
        if (st) return st;
    }
    lc_status st = tok_buf_reserve(&v->bytes, n + 1);
    if (st) return st;
    v->off[id] = (uint32_t)v->bytes.n;
    v->len[id] = (uint32_t)n;
    tok_buf_add(&v->bytes, s, n);
    v->bytes.p[v->bytes.n++] = '\0';
    size_t h = (size_t)hash_bytes(s, n) & v->mask;
    while (v->slots[h] >= 0) {
        if (v->slots[h] == id || same(v, v->slots[h], s, n)) { /* a string seen again: the later id wins */
            v->slots[h] = id;
            return LC_OK;
        }
        h = (h + 1) & v->mask;
    }
    v->slots[h] = id;
    v->count++;
    return LC_OK;
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n) {
    if (!v->slots) return -1;
    size_t h = (size_t)hash_bytes(s, n) & v->mask;
    while (v->slots[h] >= 0) {
        if (same(v, v->slots[h], s, n)) return v->slots[h];
        h = (h + 1) & v->mask;
    }
    return -1;
}

void tok_vocab_free(tok_vocab *v) {
    free(v->bytes.p);
    free(v->off);
    free(v->len);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

/* ---- merges ------------------------------------------------------------------------------ */

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static size_t pair_slot(uint64_t key, uint64_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)((h ^ (h >> 32)) & mask);
}

lc_status tok_merges_init(tok_merges *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t slots = pow2_at_least(2 * expected + 2);
    m->keys = malloc(slots * sizeof *m->keys);
    m->rank = malloc(slots * sizeof *m->rank);
    m->merged = malloc(slots * sizeof *m->merged);
    if (!m->keys || !m->rank || !m->merged) return tok_merges_free(m), lc_error(LC_ENOMEM, "tokenizer: out of memory for %zu merges", expected);
    for (size_t i = 0; i < slots; i++) m->keys[i] = UINT64_MAX;
    m->mask = slots - 1;
    return LC_OK;
}

lc_status tok_merges_set(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    if ((m->n + 1) * 2 > m->mask + 1) { /* grow */
        tok_merges g;
        lc_status st = tok_merges_init(&g, (size_t)(m->mask + 1));
        if (st) return st;
        for (size_t i = 0; i <= m->mask; i++)
            if (m->keys[i] != UINT64_MAX) {
                size_t h = pair_slot(m->keys[i], g.mask);
                while (g.keys[h] != UINT64_MAX) h = (h + 1) & g.mask;
                g.keys[h] = m->keys[i], g.rank[h] = m->rank[i], g.merged[h] = m->merged[i];
            }
        g.n = m->n;
        tok_merges_free(m);
        *m = g;
    }
    uint64_t key = pair_key(a, b);
    size_t h = pair_slot(key, m->mask);
    while (m->keys[h] != UINT64_MAX && m->keys[h] != key) h = (h + 1) & m->mask;
    if (m->keys[h] == UINT64_MAX) m->n++;
    m->keys[h] = key, m->rank[h] = rank, m->merged[h] = merged; /* a repeated pair: the later rank wins */
    return LC_OK;
}

int tok_merges_find(const tok_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged) {
    if (!m->keys) return 0;
    uint64_t key = pair_key(a, b);
    size_t h = pair_slot(key, m->mask);
    while (m->keys[h] != UINT64_MAX) {
        if (m->keys[h] == key) {
            *rank = m->rank[h], *merged = m->merged[h];
            return 1;
        }
        h = (h + 1) & m->mask;
    }
    return 0;
}

void tok_merges_free(tok_merges *m) {
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

/* ---- the byte-level alphabet (GPT-2's bytes_to_unicode) ---------------------------------- */

uint32_t tok_byte_to_cp(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    if (b <= 32) return 256 + b;
    if (b >= 127 && b <= 160) return 256 + 33 + (b - 127);
    return 256 + 33 + 34; /* 173 */
}

int tok_cp_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 289 + 127);
    if (cp == 323) return 173;
    return -1;
}

/* ---- the merge loop ------------------------------------------------------------------------ */

typedef struct tok_symbol {
    int32_t c;          /* token id */
    int32_t prev, next; /* -1 at the ends */
    uint32_t len;       /* bytes; 0 once merged into its left neighbour */
} tok_symbol;

typedef struct tok_merge_item {
    uint32_t rank, pos;
    int32_t merged;
} tok_merge_item;

static int before(const tok_merge_item *a, const tok_merge_item *b) { return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; }

static void heap_push(tok_merge_item *h, size_t *n, tok_merge_item x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static tok_merge_item heap_pop(tok_merge_item *h, size_t *n) {
    tok_merge_item top = h[0], x = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        const tok_merge_item *best = &x;
        if (l < m && before(&h[l], best)) s = l, best = &h[l];
        if (r < m && before(&h[r], best)) s = r;
        if (s == i) break;
        h[i] = h[s];
        i = s;
    }
    if (m) h[i] = x;
    return top;
}

static lc_status reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LC_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return lc_error(LC_ENOMEM, "tokenizer: out of memory for a word of %zu symbols", need);
    *p = q, *cap = c;
    return LC_OK;
}

static void add_symbol(tok_symbol *sym, size_t *n, int32_t id, uint32_t len) {
    size_t i = (*n)++;
    sym[i].c = id, sym[i].len = len;
    sym[i].prev = (int32_t)i - 1;
    sym[i].next = (int32_t)i + 1; /* the last one is fixed to -1 after */
}

lc_status tok_bpe_word(const lc_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *sc, tok_ids *out) {
    if (!n) return LC_OK;
    if (t->ignore_merges) {
        int32_t id = tok_vocab_find(&t->vocab, s, n);
        if (id >= 0) return tok_ids_push(out, id);
    }
    if (n > INT32_MAX / 2) return lc_error(LC_ERANGE, "tokenizer: a pre-token of %zu bytes is too long", n);
    lc_status st = reserve((void **)&sc->sym, &sc->sym_cap, n, sizeof *sc->sym);
    if (st) return st;
    tok_symbol *sym = sc->sym;
    size_t ns = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(u + i, n - i, &cp);
        if (!k) k = 1; /* not reached: pieces are valid UTF-8 */
        int32_t id = tok_vocab_find(&t->vocab, s + i, k);
        if (id >= 0) {
            if (unk >= 0) add_symbol(sym, &ns, unk, unk_len), unk = -1;
            add_symbol(sym, &ns, id, (uint32_t)k);
        } else {
            int fell_back = 0;
            if (t->byte_fallback) {
                fell_back = 1;
                for (size_t j = 0; j < k; j++) fell_back &= t->byte_ids[u[i + j]] >= 0;
                if (fell_back)
                    for (size_t j = 0; j < k; j++) add_symbol(sym, &ns, t->byte_ids[u[i + j]], 1);
            }
            if (!fell_back && t->unk_id != -1) {
                if (t->unk_id < 0) return lc_error(LC_EFORMAT, "%s: model.unk_token is not in the vocabulary", t->path);
                if (unk >= 0 && t->fuse_unk) {
                    unk_len += (uint32_t)k;
                } else {
                    if (unk >= 0) add_symbol(sym, &ns, unk, unk_len);
                    unk = t->unk_id, unk_len = (uint32_t)k;
                }
            }
        }
        i += k;
    }
    if (unk >= 0) add_symbol(sym, &ns, unk, unk_len);
    if (!ns) return LC_OK;
    sym[ns - 1].next = -1;

    if ((st = reserve((void **)&sc->heap, &sc->heap_cap, 2 * ns + 2, sizeof *sc->heap))) return st;
    size_t nh = 0;
    uint32_t rank;
    int32_t merged;
    for (size_t i = 0; i + 1 < ns; i++)
        if (tok_merges_find(&t->merges, sym[i].c, sym[i + 1].c, &rank, &merged))
            heap_push(sc->heap, &nh, (tok_merge_item){rank, (uint32_t)i, merged});
    while (nh) {
        tok_merge_item top = heap_pop(sc->heap, &nh);
        tok_symbol *cur = &sym[top.pos];
        if (!cur->len || cur->next < 0) continue;
        int32_t next = cur->next;
        tok_symbol right = sym[next];
        /* an expired entry: the pair at this position changed since it was queued */
        if (!tok_merges_find(&t->merges, cur->c, right.c, &rank, &merged) || merged != top.merged) continue;
        cur->c = top.merged;
        cur->len += right.len;
        cur->next = right.next;
        sym[next].len = 0;
        if (right.next >= 0) sym[right.next].prev = (int32_t)top.pos;
        /* each merge adds at most two entries; a merge removes a symbol, so fewer than ns merges */
        if ((st = reserve((void **)&sc->heap, &sc->heap_cap, nh + 2, sizeof *sc->heap))) return st;
        if (cur->prev >= 0 && tok_merges_find(&t->merges, sym[cur->prev].c, cur->c, &rank, &merged))
            heap_push(sc->heap, &nh, (tok_merge_item){rank, (uint32_t)cur->prev, merged});
        if (cur->next >= 0 && tok_merges_find(&t->merges, cur->c, sym[cur->next].c, &rank, &merged))
            heap_push(sc->heap, &nh, (tok_merge_item){rank, top.pos, merged});
    }
    for (size_t i = 0; i < ns; i++)
        if (sym[i].len && (st = tok_ids_push(out, sym[i].c))) return st;
    return LC_OK;
}

void tok_bpe_scratch_free(tok_bpe_scratch *s) {
    free(s->sym);
    free(s->heap);
    memset(s, 0, sizeof *s);
}
