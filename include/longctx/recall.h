/* Recall: needle-in-a-haystack prompts at exact token lengths, greedy answers scored by
 * exact match, and the techniques that change what a model keeps of a long prompt
 * (docs/recall.md).
 *
 *   lc_niah_build       a prompt: seeded filler cut to an exact token count, needles (a key and
 *                       a 7-digit value) at token offsets, the asked one at the given depth,
 *                       and a question; no special token inside the haystack
 *   lc_niah_score       the fraction of the expected values found in an answer (substring)
 *   lc_recall_technique one flag: full, window:W, sinks:S,W, kv:int8, rope:yarn:4, rag:K ...
 *   lc_niah_run         one prompt through a model with a technique: greedy answer, score,
 *                       the cache / state bytes the technique kept and the time it took
 *
 * The text (scripts/recall_data.py trains models on the same format):
 *   filler   " The grass is green." " Anna saw the old boat near the harbor." ... (five templates)
 *   needle   " The special magic number for {key} is {value}."
 *   question " What is the special magic number for {key}? The special magic number for {key} is"
 *   multi-value (RULER's MV-NIAH): V needles of one key, the question
 *            " What are all the special magic numbers for {key}? The special magic numbers for {key} are"
 *   multi-key (RULER's MK-NIAH): needles of distinct keys, one of them asked
 * Each piece is encoded on its own (no special tokens) and the ids are concatenated; the
 * tokenizer's BOS, when it has one, starts the prompt. */
#ifndef LONGCTX_RECALL_H
#define LONGCTX_RECALL_H

#include "longctx/core.h"
#include "longctx/model.h"
#include "longctx/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_NIAH_MAX_NEEDLES 32
#define LC_NIAH_VALUE_DIGITS 7

/* ---- prompts ------------------------------------------------------------------------------ */

typedef struct lc_niah_config {
    int64_t length; /* tokens of the whole prompt: BOS, haystack and question */
    double depth;   /* [0, 1]: the asked needle's offset in the filler, as a fraction of the filler's tokens */
    int keys;       /* MK-NIAH: needles of distinct keys, one asked; 0 or 1: one needle */
    int values;     /* MV-NIAH: needles of the asked key, all asked; 0 or 1: one value */
    uint64_t seed;  /* the filler depends on the seed alone (every length and depth of a seed share
                       its beginning); keys, values and the other needles' offsets on seed, length, depth */
    int no_bos;     /* 1: no BOS even when the tokenizer has one */
} lc_niah_config;

typedef struct lc_niah_needle {
    int64_t pos, len;                    /* where its ids lie in the prompt */
    int64_t offset;                      /* its offset in the filler (tokens of filler before it) */
    char key[16];
    char value[LC_NIAH_VALUE_DIGITS + 1];
    int asked;                           /* 1: the question asks for its value */
    int at_depth;                        /* 1: the asked needle placed at the depth (others: uniform offsets) */
} lc_niah_needle;

typedef struct lc_niah_prompt {
    int32_t *ids;                 /* [n] */
    int64_t n;                    /* = config.length */
    int64_t haystack_begin;       /* ids [haystack_begin, question_pos): filler and needles */
    int64_t question_pos;         /* the question's ids run to the end */
    int64_t filler;               /* filler tokens in the haystack */
    int n_needles;                /* in prompt order */
    lc_niah_needle needle[LC_NIAH_MAX_NEEDLES];
    char key[16];                 /* the asked key */
    int n_values;                 /* expected values, in prompt order */
    char value[LC_NIAH_MAX_NEEDLES][LC_NIAH_VALUE_DIGITS + 1];
} lc_niah_prompt;

lc_status lc_niah_config_check(const lc_niah_config *c);
/* Builds the prompt with tokenizer t. LC_ERANGE when the length cannot hold BOS, the needles
 * and the question (the sentence says how many tokens they take). */
lc_status lc_niah_build(const lc_tokenizer *t, const lc_niah_config *c, lc_niah_prompt *out);
void lc_niah_prompt_destroy(lc_niah_prompt *p);
/* The fraction of p's values that occur in `answer` (exact substring match), in [0, 1]. */
double lc_niah_score(const lc_niah_prompt *p, const char *answer);

/* The filler's text: sentences i = 0, 1, ... of seed (" The grass is green."); writes at most
 * cap bytes with a NUL, returns the length. */
size_t lc_niah_filler_sentence(uint64_t seed, uint64_t i, char *buf, size_t cap);
/* The texts of a needle and a question. */
void lc_niah_needle_text(const char *key, const char *value, char *buf, size_t cap);
void lc_niah_question_text(const char *key, int values, char *buf, size_t cap);
/* The keys a needle can have (a list of `*n` common words, none of them in the filler). */
const char *const *lc_niah_keys(int *n);

/* ---- techniques ---------------------------------------------------------------------------- */

typedef struct lc_recall_technique {
    char name[96];             /* as parsed, e.g. "sinks:4,128+kv:int8" */
    lc_context_config ctx;     /* window, sinks, kv_dtype, rope override; the rest is set per prompt */
    int rag_top_k;             /* > 0: retrieval-augmented: only the top_k chunks of the haystack and
                                  the question are given to the model */
    int64_t rag_chunk;         /* tokens per chunk (default 64) */
} lc_recall_technique;

/* Parses a technique: items joined by '+':
 *   full | window:W | sinks:S,W | kv:DTYPE (f16, bf16, int8, fp8) |
 *   rope:TYPE:FACTOR (linear or pi, ntk, dynamic, yarn, llama3) | knn:K | blocks:K[,B] | rag:K[,CHUNK]
 * knn and blocks are lc_context_config.retrieval (include/longctx/model.h): they need a window,
 * the model's or one joined to them (window:64+knn:16). */
lc_status lc_recall_technique_parse(const char *text, lc_recall_technique *out);

/* ---- one prompt through a model ------------------------------------------------------------ */

typedef struct lc_niah_result {
    double score;              /* lc_niah_score of the answer */
    char answer[256];          /* the generated text (special tokens skipped), cut at 255 bytes */
    int64_t prompt_tokens;     /* tokens the model read (RAG: the retrieved chunks and the question) */
    int64_t generated;
    size_t state_bytes;        /* after the prompt: lc_context_cache_bytes (KV caches and recurrent
                                  states); RAG: that of the short prompt plus the index */
    size_t alloc_bytes;        /* lc_context_alloc_bytes of the context(s) */
    double prefill_s, decode_s;/* prompt (RAG: embedding and search included), and the answer */
    int rag_hit;               /* RAG: 1 when a chosen chunk holds the asked needle; -1 otherwise n/a */
} lc_niah_result;

typedef struct lc_niah_run_config {
    int max_new;               /* tokens generated at most; 0: 9 per value + 2 */
    int threads;               /* context threads; 0: the default */
    int64_t max_batch;         /* prompt tokens per forward; 0: 512 */
} lc_niah_run_config;

/* Greedy answer of model m to prompt p under technique tech (the tokenizer decodes it):
 * stops at an end-of-sequence id of the model or the tokenizer, or after max_new tokens. */
lc_status lc_niah_run(const lc_model *m, const lc_tokenizer *t, const lc_recall_technique *tech, const lc_niah_prompt *p,
                      const lc_niah_run_config *rc, lc_niah_result *out);

/* Greedy generation of up to max_new tokens after prompt[n] in a fresh context made from
 * cfg (its max_tokens is set here); ids[max_new] receives them, *n_gen their count.
 * Also returns the state bytes after the prompt and both times. */
lc_status lc_recall_generate(const lc_model *m, const lc_tokenizer *t, const lc_context_config *cfg, const int32_t *prompt, int64_t n,
                             int max_new, int32_t *ids, int *n_gen, size_t *state_bytes, size_t *alloc_bytes, double *prefill_s,
                             double *decode_s);

#ifdef __cplusplus
}
#endif
#endif
