/* The catalogue of sparse patterns `longctx patterns` draws, each an lc_mask, so the
 * picture is exactly what the kernels compute. Parameters scale with the grid n and are
 * chosen so that n = 24 reproduces the classic illustrations (Child et al. 2019, Fig. 3;
 * Beltagy et al. 2020, Fig. 2; Zaheer et al. 2020, Fig. 1; Xiao et al. 2023, Fig. 1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "patterns.h"

enum { N_PATTERNS = 9 };

int pattern_count(void) { return N_PATTERNS; }

static int64_t at_least(int64_t v, int64_t lo) { return v < lo ? lo : v; }

lc_status pattern_build(int k, int64_t n, pattern *out) {
    if (!out) return lc_error(LC_EINVAL, "pattern_build: out is NULL");
    if (k < 0 || k >= N_PATTERNS) return lc_error(LC_EINVAL, "pattern index %d must be in [0, %d)", k, N_PATTERNS);
    if (n < 4 || n > 4096) return lc_error(LC_EINVAL, "pattern grid n=%lld must be in [4, 4096]", (long long)n);
    memset(out, 0, sizeof *out);
    out->n = n;
    lc_mask *m = &out->mask;
    int64_t w = at_least(n / 5, 2);                           /* window, in keys incl. self */
    int64_t l = at_least((int64_t)llround(sqrt((double)n)), 2); /* Sparse Transformer stride */
    int64_t blk = at_least(n / 6, 1), nb = (n + blk - 1) / blk; /* <= 16 blocks for n >= 4 */
    char *d = out->description_buf;
    size_t dn = sizeof out->description_buf;
    switch (k) {
    case 0:
        out->name = "full";
        *m = lc_mask_full();
        snprintf(d, dn, "bidirectional: every query sees every key");
        break;
    case 1:
        out->name = "causal";
        *m = lc_mask_causal();
        snprintf(d, dn, "decoder: query i sees keys 0..i");
        break;
    case 2:
        out->name = "sliding-window";
        *m = lc_mask_sliding_window(w);
        snprintf(d, dn, "Mistral: causal, the last W=%lld keys incl. self", (long long)w);
        break;
    case 3:
        out->name = "dilated-window";
        *m = lc_mask_causal();
        m->window = (lc_mask_window){1, 2 * w - 1, 0, 2};
        snprintf(d, dn, "Longformer dilated: causal, every 2nd key back to %lld", (long long)(2 * w - 1));
        break;
    case 4:
        out->name = "strided";
        *m = lc_mask_causal();
        m->window = (lc_mask_window){1, l - 1, 0, 1};
        m->stride = (lc_mask_stride){l, 0};
        snprintf(d, dn, "Sparse Transformer: causal, the last l=%lld keys + every l-th", (long long)l);
        break;
    case 5:
        out->name = "local+global";
        m->window = (lc_mask_window){1, w / 2, w / 2, 1};
        out->global_index[0] = 0;
        out->global_index[1] = n / 2;
        m->global = (lc_mask_global){out->global_index, 2};
        snprintf(d, dn, "Longformer: keys within \u00b1%lld, global tokens 0 and %lld", (long long)(w / 2), (long long)(n / 2));
        break;
    case 6:
        out->name = "bigbird";
        blk = at_least(n / 12, 1);
        m->bigbird = (lc_mask_bigbird){blk, 1, 1, 2, 7, n};
        snprintf(d, dn, "BigBird: blocks of %lld; 1 window block each side, 1 global, 2 random", (long long)blk);
        break;
    case 7:
        out->name = "block-sparse";
        m->blocks = (lc_mask_blocks){out->block_bits, blk, blk, nb, nb};
        for (int64_t qb = 0; qb < nb; qb++) /* causal blocks: the diagonal, the first and every third back */
            for (int64_t kb = 0; kb <= qb; kb++) out->block_bits[qb * nb + kb] = kb == qb || kb == 0 || (qb - kb) % 3 == 0;
        m->causal = 1;
        snprintf(d, dn, "block-sparse: causal blocks of %lld; diagonal, first column, every 3rd back", (long long)blk);
        break;
    default:
        out->name = "sinks+window";
        *m = lc_mask_sliding_window(w);
        m->sinks = at_least(n / 12, 1);
        snprintf(d, dn, "StreamingLLM: causal, %lld sink keys + the last %lld keys", (long long)m->sinks, (long long)w);
        break;
    }
    out->description = d;
    return lc_mask_check(m, n, n);
}
