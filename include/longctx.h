/* longctx: every technique that lets language models handle very long contexts. */
#ifndef LONGCTX_H
#define LONGCTX_H

#include "longctx/core.h"
#include "longctx/mask.h"
#include "longctx/attention.h"
#include "longctx/ring.h"
#include "longctx/cost.h"
#include "longctx/safetensors.h"
#include "longctx/model.h"
#include "longctx/memory.h"
#include "longctx/rope.h"
#include "longctx/cache.h"
#include "longctx/decode.h"
#include "longctx/mla.h"
#include "longctx/linear.h"
#include "longctx/matmul.h"
#include "longctx/ssm.h"
#include "longctx/tokenizer.h"
#include "longctx/recall.h"

#endif
