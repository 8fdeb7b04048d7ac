/* Decode attention for many queries at once (internal): a prompt chunk against its cached
 * prefix, through the flash kernel's tile products over the cache's spans (decode_tiled.c).
 * decode.c chooses it in its plan (lc_decode_tiled_chosen) and hands it the spans. */
#ifndef LONGCTX_DECODE_TILED_H
#define LONGCTX_DECODE_TILED_H

#include "longctx/decode.h"

/* 1 when lc_decode_attention runs d (checked) on the tiled path for vector path `isa`. */
int lc_decode_tiled_chosen(const lc_decode *d, lc_isa isa);

/* Bytes of one thread's scratch (64-byte aligned parts). */
size_t lc_decode_tiled_thread_bytes(const lc_decode *d, lc_isa isa);

/* Writes d->out (and d->lse) for the kept tokens in `spans` (position order) of a sequence
 * of `len` tokens; `scratch` holds threads x lc_decode_tiled_thread_bytes, 64-byte aligned. */
void lc_decode_tiled(const lc_decode *d, lc_isa isa, int threads, const lc_kv_span *spans, int64_t nspans, int64_t len, uint8_t *scratch);

#endif
