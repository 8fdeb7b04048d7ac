/* The tokenizer's insides, shared by its files: the loaded pipeline (normalizers,
 * pre-tokenizers, BPE model, added tokens, post-processor, decoders) and the small
 * growable buffers the encoder passes between its stages. */
#ifndef LONGCTX_MODEL_TOKENIZER_INTERNAL_H
#define LONGCTX_MODEL_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "longctx/tokenizer.h"

enum { TOK_MAX_IDS = 1 << 24 }; /* ids at or past this are refused as malformed */

/* ---- growable buffers ------------------------------------------------------------------ */

typedef struct tok_buf {
    char *p;
    size_t n, cap;
} tok_buf;

typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

/* One piece of text between stages: bytes [off, off + len) of the owner's buffer, or an
 * added token already resolved to `id` (>= 0). `first` marks the piece that starts at
 * byte 0 of the caller's text (Metaspace's prepend_scheme "first" asks for it). */
typedef struct tok_piece {
    size_t off, len;
    int32_t id;
    uint8_t first;
} tok_piece;

typedef struct tok_pieces {
    tok_buf text;
    tok_piece *v;
    size_t n, cap;
} tok_pieces;

lc_status tok_buf_reserve(tok_buf *b, size_t extra);
lc_status tok_buf_add(tok_buf *b, const void *s, size_t n);
lc_status tok_ids_push(tok_ids *ids, int32_t id);
/* Appends a text piece (copying s) or, with id >= 0, an added-token piece. */
lc_status tok_pieces_push(tok_pieces *p, const char *s, size_t n, int32_t id, int first);
void tok_pieces_clear(tok_pieces *p);
void tok_pieces_free(tok_pieces *p);

/* ---- the vocabulary: strings by id, ids by string ------------------------------------ */

typedef struct tok_vocab {
    tok_buf bytes;     /* every token's string, back to back */
    uint32_t *off;     /* per id: where its string starts in bytes */
    uint32_t *len;     /* per id: its length, UINT32_MAX when the id has no string */
    int32_t n;         /* ids 0 .. n-1 have a slot */
    int32_t *slots;    /* open addressing, string -> id; -1 empty */
    uint32_t mask;     /* slots - 1 */
    int32_t count;     /* strings inserted */
} tok_vocab;

lc_status tok_vocab_init(tok_vocab *v, int32_t n_ids, size_t expected);
lc_status tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t n);
int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n); /* -1 when absent */
void tok_vocab_free(tok_vocab *v);

/* BPE merges: (left id, right id) -> (rank, merged id). */
typedef struct tok_merges {
    uint64_t *keys; /* UINT64_MAX empty */
    uint32_t *rank;
    int32_t *merged;
    uint64_t mask;
    size_t n;
} tok_merges;

lc_status tok_merges_init(tok_merges *m, size_t expected);
lc_status tok_merges_set(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);
/* 1 and the rank and merged id when (a, b) merges, else 0. */
int tok_merges_find(const tok_merges *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged);
void tok_merges_free(tok_merges *m);

/* ---- the pipeline ------------------------------------------------------------------------ */

typedef enum tok_norm_kind { TOK_NORM_PREPEND, TOK_NORM_REPLACE, TOK_NORM_LOWERCASE, TOK_NORM_NFC } tok_norm_kind;

typedef struct tok_normalizer {
    tok_norm_kind kind;
    char *a, *b; /* PREPEND: a; REPLACE: a -> b */
    size_t a_len, b_len;
} tok_normalizer;

typedef enum tok_regex { TOK_RE_GPT2 = 0, TOK_RE_LLAMA3 = 1, TOK_RE_QWEN2 = 2 } tok_regex;

typedef enum tok_behavior {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
} tok_behavior;

typedef enum tok_prepend { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend;

typedef enum tok_pre_kind { TOK_PRE_BYTELEVEL, TOK_PRE_SPLIT_REGEX, TOK_PRE_SPLIT_STRING, TOK_PRE_METASPACE, TOK_PRE_DIGITS } tok_pre_kind;

typedef struct tok_pretok {
    tok_pre_kind kind;
    int add_prefix_space, use_regex; /* BYTELEVEL */
    tok_regex regex;                 /* SPLIT_REGEX */
    char *str;                       /* SPLIT_STRING: the literal */
    size_t str_len;
    tok_behavior behavior; /* SPLIT_* */
    int invert;
    uint32_t replacement; /* METASPACE */
    tok_prepend prepend;
    int split;
    int individual_digits; /* DIGITS */
} tok_pretok;

typedef enum tok_dec_kind { TOK_DEC_BYTELEVEL, TOK_DEC_METASPACE, TOK_DEC_REPLACE, TOK_DEC_BYTEFALLBACK, TOK_DEC_FUSE, TOK_DEC_STRIP } tok_dec_kind;

typedef struct tok_decoder {
    tok_dec_kind kind;
    char *a, *b; /* REPLACE: a -> b */
    size_t a_len, b_len;
    uint32_t ch; /* METASPACE: replacement; STRIP: content */
    tok_prepend prepend;
    int64_t start, stop; /* STRIP */
} tok_decoder;

typedef struct tok_added {
    int32_t id;
    char *content; /* as written in tokenizer.json */
    size_t len;
    char *match; /* what is searched for: content, or its normalized form */
    size_t match_len;
    uint8_t special, lstrip, rstrip, normalized, single_word;
} tok_added;

struct lc_tokenizer {
    char path[512]; /* for sentences */

    /* model: BPE */
    tok_vocab vocab;
    tok_merges merges;
    int byte_fallback, ignore_merges, fuse_unk;
    int32_t unk_id;
    int32_t byte_ids[256]; /* <0xXX> tokens, -1 absent */

    /* added tokens; by_first[b] lists those whose match starts with byte b, longest first */
    tok_added *added;
    int32_t n_added;
    int32_t *added_order;     /* indices into added, by first byte then length descending */
    int32_t added_start[257]; /* added_order[added_start[b] .. added_start[b+1]) */
    int32_t *added_index;     /* per id (0 .. max_id): its index in added, or -1 */
    int32_t max_id;           /* largest id of vocab and added tokens */

    tok_normalizer *norms;
    int n_norms;
    tok_pretok *pretoks;
    int n_pretoks;
    tok_decoder *decoders;
    int n_decoders;
    int has_decoder;

    /* post-processor of a single sequence: these ids before and after it */
    int32_t *prefix, *suffix;
    int n_prefix, n_suffix;

    int32_t bos, eos;
};

/* Normalizes s[0..n) with t's normalizers into out (cleared first). */
lc_status tok_normalize(const lc_tokenizer *t, const char *s, size_t n, tok_buf *out);
/* s[0..n) (valid UTF-8) in Normalization Form C into out (cleared first). */
lc_status tok_nfc(const char *s, size_t n, tok_buf *out);
/* Runs t's pre-tokenizers over the text pieces of *in; the result replaces *in (*tmp is
 * scratch of the same kind). */
lc_status tok_pretokenize(const lc_tokenizer *t, tok_pieces *in, tok_pieces *tmp);

/* The known pre-tokenizer regexes: the tok_regex of a pattern string, or -1. */
int tok_regex_lookup(const char *pattern);
/* Splits the valid UTF-8 s[0..n) by the regex: ends[k] is where match k ends (bytes);
 * the matches cover s back to back. *ends is grown with realloc. */
lc_status tok_regex_split(tok_regex re, const char *s, size_t n, size_t **ends, size_t *n_ends, size_t *cap);

/* Scratch reused across words by the BPE merge loop. */
typedef struct tok_bpe_scratch {
    struct tok_symbol *sym;
    size_t sym_cap;
    struct tok_merge_item *heap;
    size_t heap_cap;
} tok_bpe_scratch;

/* Appends the ids of one pre-token (its bytes as the model sees them) to out. */
lc_status tok_bpe_word(const lc_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *scratch, tok_ids *out);
void tok_bpe_scratch_free(tok_bpe_scratch *s);

/* The byte-level alphabet: the code point standing for byte b, and back (-1 if none). */
uint32_t tok_byte_to_cp(unsigned b);
int tok_cp_to_byte(uint32_t cp);

/* The string of an id (added tokens first, then the model), or NULL. */
const char *tok_id_string(const lc_tokenizer *t, int32_t id, size_t *len);
/* The added token with this id, or NULL. */
const tok_added *tok_added_by_id(const lc_tokenizer *t, int32_t id);

/* Decodes these token strings with t's decoders into out (appended). */
lc_status tok_decode_strings(const lc_tokenizer *t, const char *const *strs, const size_t *lens, size_t n, tok_buf *out);

/* Reads tokenizer.json (and tokenizer_config.json beside it) into t, which is zeroed. */
lc_status tok_load(lc_tokenizer *t, const char *json_path, const char *config_path);
void tok_unload(lc_tokenizer *t);

#endif
