/* The tokenizer's growable buffers: bytes, ids and pieces of text between stages. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

static lc_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LC_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return lc_error(LC_ENOMEM, "tokenizer: a buffer of %zu items is too large", need);
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return lc_error(LC_ENOMEM, "tokenizer: out of memory growing a buffer to %zu bytes", c * elem);
    *p = q;
    *cap = c;
    return LC_OK;
}

lc_status tok_buf_reserve(tok_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->n - 1) return lc_error(LC_ENOMEM, "tokenizer: text too large");
    return grow((void **)&b->p, &b->cap, b->n + extra + 1, 1); /* + 1: room for a NUL */
}

lc_status tok_buf_add(tok_buf *b, const void *s, size_t n) {
    lc_status st = tok_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return LC_OK;
}

lc_status tok_ids_push(tok_ids *ids, int32_t id) {
    lc_status st = grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v);
    if (st) return st;
    ids->v[ids->n++] = id;
    return LC_OK;
}

lc_status tok_pieces_push(tok_pieces *p, const char *s, size_t n, int32_t id, int first) {
    lc_status st = grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v);
    if (st) return st;
    tok_piece *q = &p->v[p->n];
    q->off = p->text.n;
    q->len = id >= 0 ? 0 : n;
    q->id = id;
    q->first = (uint8_t)(first != 0);
    if (id < 0 && (st = tok_buf_add(&p->text, s, n))) return st;
    p->n++;
    return LC_OK;
}

void tok_pieces_clear(tok_pieces *p) {
    p->n = 0;
    p->text.n = 0;
}

void tok_pieces_free(tok_pieces *p) {
    free(p->v);
    free(p->text.p);
    memset(p, 0, sizeof *p);
}
