/* The recall area's private functions. */
#ifndef LONGCTX_RECALL_INTERNAL_H
#define LONGCTX_RECALL_INTERNAL_H

#include "longctx/recall.h"

double lc_recall_now(void); /* monotonic seconds */

/* RAG (rag.c): the haystack of p cut into chunks of tech->rag_chunk tokens at a stride of
 * half a chunk, each embedded as the mean of the model's final hidden states over its tokens
 * (after BOS), searched by cosine (FAISS inner product over unit vectors) with the question's
 * embedding; the top_k chunks' tokens (their union, in prompt order) between BOS and the
 * question form the prompt written to *ids (malloc'd, *n of them). *hit: the chosen tokens
 * hold the asked needle whole; *index_bytes: the index's bytes. */
lc_status lc_recall_rag_prompt(const lc_model *m, const lc_recall_technique *tech, const lc_niah_prompt *p, int threads, int32_t **ids,
                               int64_t *n, int *hit, size_t *index_bytes, size_t *alloc_bytes);

#endif
