/* Partial attention results over disjoint sets of keys, and their merge by log-sum-exp
 * (internal; one implementation for decode, MLA decode and ring attention on the CPU).
 *
 * A partial result of one query row over some keys j is its largest score m, the sum
 * l = sum_j e^(s_j - m) and the unnormalised output acc = sum_j e^(s_j - m) v_j (d values).
 * Over no key at all: m = -inf, l = 0, acc = 0. A normalised result (out, lse) is the
 * partial (m = lse, l = 1, acc = out). Two partials merge into the partial over the union:
 *
 *     m = max(m_a, m_b),  l = l_a e^(m_a - m) + l_b e^(m_b - m),
 *     acc = acc_a e^(m_a - m) + acc_b e^(m_b - m),
 *
 * and the result is out = acc / l, lse = m + log l. */
#ifndef LONGCTX_LSE_MERGE_H
#define LONGCTX_LSE_MERGE_H

#include <stdint.h>

/* Folds partial (b, m_b, l_b) into (a, *m_a, *l_a): a becomes the partial over both key
 * sets. A partial over no key (m = -inf) changes nothing, and is replaced by b exactly. */
void lc_lse_fold(float *a, float *m_a, float *l_a, const float *b, float m_b, float l_b, int64_t d);

/* The normalised result of partial (acc, m, l): out = acc / l (out may be acc) and the
 * returned lse = m + log l; out = 0 and -inf when the partial saw no key (l = 0). */
float lc_lse_finish(float *out, const float *acc, float m, float l, int64_t d);

#endif
