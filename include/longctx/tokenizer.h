/* A tokenizer read from a Hugging Face tokenizer.json, giving the ids the `tokenizers`
 * library gives (docs/tokenizer.md).
 *
 * Supported: the BPE model (merges as "a b" strings or ["a", "b"] pairs, ignore_merges,
 * byte_fallback, unk_token, fuse_unk) with
 *   - byte-level BPE: the ByteLevel pre-tokenizer with the GPT-2 regex, or a Split
 *     pre-tokenizer with the GPT-2, Llama-3 or Qwen2 regex followed by
 *     ByteLevel(use_regex=false); the ByteLevel decoder;
 *   - SentencePiece-style BPE: the Metaspace pre-tokenizer (prepend_scheme first, always or
 *     never; split true or false), or the older Llama-2 normalizer Sequence[Prepend("▁"),
 *     Replace(" ", "▁")]; the decoders Replace, ByteFallback, Fuse, Strip and Metaspace;
 *   - Split with a literal string pattern, Digits;
 *   - added tokens (split out of the text first, longest match, lstrip / rstrip /
 *     single_word / normalized honoured, never merged);
 *   - the post-processors TemplateProcessing (single sequence), RobertaProcessing,
 *     BertProcessing, ByteLevel and Sequence, applied when add_special is set;
 *   - the normalizers Prepend, Replace (string pattern), Lowercase, NFC and Sequence.
 * Regex patterns are not run by a regex engine: the three known ones are recognised and
 * matched by hand-written code over Unicode classes; any other pattern is refused
 * (LC_EUNSUPPORTED, quoting it). So are the models WordPiece, Unigram and WordLevel and
 * the pre-tokenizers and normalizers not listed. Truncation and padding are ignored.
 *
 * A loaded tokenizer is immutable: any number of threads may encode and decode with it
 * at once. No global mutable state. */
#ifndef LONGCTX_TOKENIZER_H
#define LONGCTX_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_tokenizer lc_tokenizer;

/* Loads a tokenizer from `path`: a tokenizer.json, or a directory holding one. A
 * tokenizer_config.json beside it, when present, names the BOS and EOS tokens (bos_token,
 * eos_token) and, where tokenizer.json has no post-processor that adds tokens, says with
 * add_bos_token / add_eos_token whether encoding with add_special adds them.
 * LC_EIO: the file cannot be read; LC_EFORMAT: malformed JSON or a missing or mistyped
 * field (the sentence names it); LC_EUNSUPPORTED: a model, normalizer, pre-tokenizer,
 * regex, post-processor or decoder this reader does not implement (named). */
lc_status lc_tokenizer_load(const char *path, lc_tokenizer **out);
void lc_tokenizer_destroy(lc_tokenizer *t);

/* One past the largest id of the vocabulary and the added tokens. */
int64_t lc_tokenizer_vocab_size(const lc_tokenizer *t);

/* Encodes text[0..len) (UTF-8; LC_EINVAL with the byte offset where it is not) into ids.
 * add_special: apply the post-processor (e.g. prepend <s> or <|begin_of_text|>).
 * ids has room for max_ids (ids may be NULL when max_ids is 0); *n_ids gets the count.
 * When the count passes max_ids, the first max_ids are written and LC_ERANGE is returned
 * with the count needed in *n_ids. */
lc_status lc_tokenizer_encode(const lc_tokenizer *t, const char *text, size_t len, int add_special, int32_t *ids, int64_t max_ids,
                              int64_t *n_ids);
/* The same into a malloc'd array (*ids, free() it), of *n_ids ids. */
lc_status lc_tokenizer_encode_alloc(const lc_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids, int64_t *n_ids);

/* Decodes ids into text with the tokenizer's decoder, as `tokenizers`' decode does: ids
 * unknown to the tokenizer are skipped; skip_special leaves out special added tokens;
 * bytes that do not form UTF-8 become U+FFFD. text has room for cap bytes (may be NULL
 * when cap is 0); *len gets the length. The text is NUL-terminated when cap > *len.
 * LC_ERANGE when it does not fit, with the length needed in *len. */
lc_status lc_tokenizer_decode(const lc_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, char *text, size_t cap, size_t *len);
/* The same into a malloc'd NUL-terminated string (*text, free() it) of *len bytes. */
lc_status lc_tokenizer_decode_alloc(const lc_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, char **text, size_t *len);

/* The id of a token string (added tokens first, then the vocabulary), e.g. "</s>";
 * LC_ERANGE when there is none. */
lc_status lc_tokenizer_token_id(const lc_tokenizer *t, const char *token, int32_t *id);
/* The string of an id (NUL-terminated, owned by t; as stored: "Ġhello", "▁the", "<0x0A>"),
 * or NULL when the id has none. */
const char *lc_tokenizer_token_str(const lc_tokenizer *t, int32_t id);
/* 1 when id is a special added token. */
int lc_tokenizer_is_special(const lc_tokenizer *t, int32_t id);

/* The BOS / EOS ids, -1 when none: tokenizer_config.json's bos_token / eos_token, else
 * the token the post-processor puts first (BOS), else a well-known name ("<s>", "</s>",
 * "<|begin_of_text|>", "<|end_of_text|>", "<|endoftext|>", "<bos>", "<eos>"). */
int32_t lc_tokenizer_bos(const lc_tokenizer *t);
int32_t lc_tokenizer_eos(const lc_tokenizer *t);

#ifdef __cplusplus
}
#endif

#endif
