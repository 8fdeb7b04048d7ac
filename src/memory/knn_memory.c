/* The kNN memory: a FIFO ring of (key, value) rows per head, searched by inner product
 * through FAISS's C API (Memorizing Transformers, Wu et al. 2022, section 3).
 *
 * FAISS cannot delete from an HNSW graph and deletes from flat or IVF indexes by moving
 * every later vector, so the memory is cut by position into segments of `segment` tokens.
 * A segment gets one FAISS index per head when it fills; the index is dropped when the
 * segment's first token is evicted. The newest segment (still filling) and the oldest one
 * (partly evicted) are scanned exactly here with sgemm, so eviction is exact to the token
 * and the search over all segments merges into one top-k per query. */
#include "../core/machine.h"
#include "memory_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>

enum { SCAN_CHUNK = 4096 }; /* keys per sgemm in the exact scan */

lc_status lc_knn_memory_config_check(const lc_knn_memory_config *c) {
    if (!c) return lc_error(LC_EINVAL, "memory config is NULL");
    if (c->heads < 1) return lc_error(LC_EINVAL, "memory heads=%lld must be >= 1", (long long)c->heads);
    if (c->d_k < 1 || c->d_k > 65536) return lc_error(LC_EINVAL, "memory d_k=%lld must be in [1, 65536]", (long long)c->d_k);
    if (c->d_v < 1 || c->d_v > 65536) return lc_error(LC_EINVAL, "memory d_v=%lld must be in [1, 65536]", (long long)c->d_v);
    if (c->capacity < 1) return lc_error(LC_EINVAL, "memory capacity=%lld must be >= 1", (long long)c->capacity);
    if (c->segment < 0 || c->segment > c->capacity)
        return lc_error(LC_EINVAL, "memory segment=%lld must be in [0, capacity=%lld]", (long long)c->segment, (long long)c->capacity);
    if (c->index != LC_MEMORY_EXACT && c->index != LC_MEMORY_HNSW && c->index != LC_MEMORY_IVF)
        return lc_error(LC_EINVAL, "memory index=%d is not an lc_memory_index", (int)c->index);
    if (c->hnsw_m < 0 || c->hnsw_m > 1024) return lc_error(LC_EINVAL, "memory hnsw_m=%d must be in [0, 1024]", c->hnsw_m);
    /* FAISS sizes each search's candidate lists by efSearch and its coarse assignment by nprobe:
     * bounded, so that a file's header cannot ask a search for gigabytes */
    if (c->hnsw_ef_search < 0 || c->hnsw_ef_search > 65536)
        return lc_error(LC_EINVAL, "memory hnsw_ef_search=%d must be in [0, 65536]", c->hnsw_ef_search);
    if (c->ivf_lists < 0 || c->ivf_lists > (1 << 24)) return lc_error(LC_EINVAL, "memory ivf_lists=%d must be in [0, 2^24]", c->ivf_lists);
    if (c->ivf_probe < 0 || c->ivf_probe > (1 << 24)) return lc_error(LC_EINVAL, "memory ivf_probe=%d must be in [0, 2^24]", c->ivf_probe);
    double bytes = (double)c->heads * (double)c->capacity * (double)(c->d_k + c->d_v) * 4.0;
    if (bytes > 0x1p60) return lc_error(LC_EINVAL, "memory heads x capacity x (d_k + d_v) is too large (%.3g bytes)", bytes);
    return LC_OK;
}

static lc_knn_memory_config resolved(const lc_knn_memory_config *in) {
    lc_knn_memory_config c = *in;
    if (!c.segment) c.segment = c.capacity < 16384 ? c.capacity : 16384;
    if (!c.hnsw_m) c.hnsw_m = 32;
    if (!c.hnsw_ef_search) c.hnsw_ef_search = 64;
    if (!c.ivf_lists) { /* about sqrt(segment), with >= 39 training points per list (FAISS's minimum) */
        int64_t l = (int64_t)sqrt((double)c.segment), most = c.segment / 39;
        c.ivf_lists = (int)(l < most ? l : most);
        if (c.ivf_lists < 1) c.ivf_lists = 1;
    }
    if (!c.ivf_probe) c.ivf_probe = 16;
    c.threads = lc_threads_resolve(c.threads);
    return c;
}

lc_status lc_knn_memory_create(const lc_knn_memory_config *cfg, lc_knn_memory **out) {
    if (!out) return lc_error(LC_EINVAL, "out is NULL");
    *out = NULL;
    lc_status st = lc_knn_memory_config_check(cfg);
    if (st) return st;
    const lc_knn_memory_config rc = resolved(cfg);
    const double ring = (double)rc.heads * (double)rc.capacity * (double)(rc.d_k + rc.d_v) * 4.0,
                 table = (double)rc.heads * (double)((rc.capacity + rc.segment - 1) / rc.segment + 1) * sizeof(void *);
    if (lc_past_machine(ring + table))
        return lc_error(LC_ENOMEM, "the memory's %.0f bytes of keys, values and index table (capacity=%lld) are more than this machine's %.0f",
                        ring + table, (long long)rc.capacity, lc_machine_memory());
    lc_knn_memory *m = calloc(1, sizeof *m);
    if (!m) return lc_error(LC_ENOMEM, "cannot allocate the memory object");
    m->c = rc;
    m->n_slots = (m->c.capacity + m->c.segment - 1) / m->c.segment + 1;
    size_t kb = (size_t)(m->c.heads * m->c.capacity * m->c.d_k) * sizeof(float);
    size_t vb = (size_t)(m->c.heads * m->c.capacity * m->c.d_v) * sizeof(float);
    m->keys = lc_aligned_alloc(kb, 64);
    m->values = lc_aligned_alloc(vb, 64);
    m->index = calloc((size_t)(m->c.heads * m->n_slots), sizeof(FaissIndex *));
    if (!m->keys || !m->values || !m->index) {
        lc_knn_memory_destroy(m);
        return lc_error(LC_ENOMEM, "cannot allocate the memory's %zu bytes of keys and values", kb + vb);
    }
    if (faiss_ParameterSpace_new(&m->space)) {
        lc_knn_memory_destroy(m);
        return lc_error(LC_EINTERNAL, "FAISS: %s", faiss_get_last_error());
    }
    *out = m;
    return LC_OK;
}

void lc_knn_memory_destroy(lc_knn_memory *m) {
    if (!m) return;
    if (m->index)
        for (int64_t i = 0; i < m->c.heads * m->n_slots; i++)
            if (m->index[i]) faiss_Index_free(m->index[i]);
    if (m->space) faiss_ParameterSpace_free(m->space);
    free(m->index);
    lc_aligned_free(m->keys);
    lc_aligned_free(m->values);
    free(m);
}

const lc_knn_memory_config *lc_knn_memory_config_of(const lc_knn_memory *m) { return m ? &m->c : NULL; }
int64_t lc_knn_memory_size(const lc_knn_memory *m) { return m ? m->end - m->first : 0; }
int64_t lc_knn_memory_first(const lc_knn_memory *m) { return m ? m->first : 0; }

/* Whether segment s has (and must have) an index: complete and every token held. */
static int indexed(const lc_knn_memory *m, int64_t s) { return s * m->c.segment >= m->first && (s + 1) * m->c.segment <= m->end; }

static FaissIndex **slot(const lc_knn_memory *m, int64_t h, int64_t s) { return &m->index[h * m->n_slots + s % m->n_slots]; }

size_t lc_knn_memory_bytes(const lc_knn_memory *m) {
    if (!m) return 0;
    const lc_knn_memory_config *c = &m->c;
    double bytes = (double)c->heads * (double)c->capacity * (double)(c->d_k + c->d_v) * 4.0, per = (double)c->segment;
    double seg = c->index == LC_MEMORY_HNSW ? per * (4.0 * (double)c->d_k + 8.0 * c->hnsw_m + 8.0)
               : c->index == LC_MEMORY_IVF  ? per * (4.0 * (double)c->d_k + 8.0) + 4.0 * (double)c->ivf_lists * (double)c->d_k
                                            : per * 4.0 * (double)c->d_k;
    for (int64_t s = m->first / c->segment; s * c->segment < m->end; s++)
        if (indexed(m, s)) bytes += seg * (double)c->heads;
    return (size_t)bytes;
}

lc_status lc_knn_memory_get(const lc_knn_memory *m, int64_t head, int64_t position, float *key, float *value) {
    if (!m || !key || !value) return lc_error(LC_EINVAL, "memory, key and value must not be NULL");
    if (head < 0 || head >= m->c.heads) return lc_error(LC_ERANGE, "head=%lld is outside [0, %lld)", (long long)head, (long long)m->c.heads);
    if (position < m->first || position >= m->end)
        return lc_error(LC_ERANGE, "position=%lld is not held (the memory holds [%lld, %lld))", (long long)position, (long long)m->first,
                        (long long)m->end);
    memcpy(key, lc_mem_key(m, head, position), (size_t)m->c.d_k * sizeof(float));
    memcpy(value, lc_mem_value(m, head, position), (size_t)m->c.d_v * sizeof(float));
    return LC_OK;
}

/* ---- append ------------------------------------------------------------------------------ */

static lc_status check_rows(const lc_knn_memory *m, const lc_tensor *t, const char *name, int64_t d) {
    if (!t) return lc_error(LC_EINVAL, "%s is NULL", name);
    lc_status st = lc_tensor_check(t, name, 0);
    if (st) return st;
    if (t->shape[0] != 1) return lc_error(LC_EINVAL, "%s.shape[0]=%lld: a kNN memory holds one sequence, batch must be 1", name, (long long)t->shape[0]);
    if (t->shape[2] != m->c.heads)
        return lc_error(LC_EINVAL, "%s.shape[2]=%lld must equal the memory's heads=%lld", name, (long long)t->shape[2], (long long)m->c.heads);
    if (t->shape[3] != d) return lc_error(LC_EINVAL, "%s.shape[3]=%lld must equal the memory's width %lld", name, (long long)t->shape[3], (long long)d);
    for (int64_t s = 0; s < t->shape[1]; s++)
        for (int64_t h = 0; h < t->shape[2]; h++)
            for (int64_t i = 0; i < d; i++) {
                float x = lc_load_elem(t->data, t->dtype, lc_tensor_offset(t, 0, s, h, i));
                if (!isfinite(x)) return lc_error(LC_EINVAL, "%s[0, %lld, %lld, %lld] = %g is not finite", name, (long long)s, (long long)h, (long long)i, (double)x);
            }
    return LC_OK;
}

/* A FAISS index of the memory's kind over n keys x, trained where it must be. */
static lc_status build_index(const lc_knn_memory *m, const float *x, int64_t n, FaissIndex **out) {
    char desc[64];
    const lc_knn_memory_config *c = &m->c;
    /* IVF: at most n / 39 lists, FAISS's minimum of training points per list; a segment
     * too small for one list is indexed flat (exact). */
    int64_t lists = c->ivf_lists < n / 39 ? c->ivf_lists : n / 39;
    if (c->index == LC_MEMORY_HNSW) snprintf(desc, sizeof desc, "HNSW%d", c->hnsw_m);
    else if (c->index == LC_MEMORY_IVF && lists > 0) snprintf(desc, sizeof desc, "IVF%lld,Flat", (long long)lists);
    else snprintf(desc, sizeof desc, "Flat");
    FaissIndex *idx = NULL;
    int err = faiss_index_factory(&idx, (int)c->d_k, desc, METRIC_INNER_PRODUCT);
    if (!err && !faiss_Index_is_trained(idx)) err = faiss_Index_train(idx, n, x);
    if (!err) err = faiss_Index_add(idx, n, x);
    if (!err && c->index == LC_MEMORY_HNSW) err = faiss_ParameterSpace_set_index_parameter(m->space, idx, "efSearch", c->hnsw_ef_search);
    if (!err && c->index == LC_MEMORY_IVF && lists > 0) err = faiss_ParameterSpace_set_index_parameter(m->space, idx, "nprobe", c->ivf_probe);
    if (err) {
        if (idx) faiss_Index_free(idx);
        *out = NULL;
        return lc_error(LC_ENOMEM, "FAISS could not build a %s index of %lld keys: %s", desc, (long long)n, faiss_get_last_error());
    }
    *out = idx;
    return LC_OK;
}

lc_status lc_knn_memory_append(lc_knn_memory *m, const lc_tensor *k, const lc_tensor *v) {
    if (!m) return lc_error(LC_EINVAL, "memory is NULL");
    lc_status st = check_rows(m, k, "k", m->c.d_k);
    if (!st) st = check_rows(m, v, "v", m->c.d_v);
    if (st) return st;
    if (k->shape[1] != v->shape[1])
        return lc_error(LC_EINVAL, "k.shape[1]=%lld and v.shape[1]=%lld must be equal", (long long)k->shape[1], (long long)v->shape[1]);
    const int64_t n = k->shape[1], S = m->c.segment, C = m->c.capacity, H = m->c.heads, dk = m->c.d_k, dv = m->c.d_v;
    const int64_t end = m->end + n, first = end - m->first > C ? end - C : m->first;

    /* 1. Build the indexes of the segments this append completes and keeps whole, from the
     *    rows they will hold, before anything is changed. */
    int64_t s_lo = m->end / S, s_hi = end / S; /* candidate segments [s_lo, s_hi) */
    while (s_lo < s_hi && s_lo * S < first) s_lo++;
    int64_t n_new = s_hi - s_lo;
    FaissIndex **fresh = n_new ? calloc((size_t)(n_new * H), sizeof *fresh) : NULL;
    float *buf = n_new ? malloc((size_t)(S * dk) * sizeof(float)) : NULL;
    if (n_new && (!fresh || !buf)) st = lc_error(LC_ENOMEM, "cannot allocate %lld bytes to build segment indexes", (long long)(S * dk * 4));
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(m->c.threads);
    for (int64_t s = s_lo; !st && s < s_hi; s++)
        for (int64_t h = 0; !st && h < H; h++) {
            for (int64_t p = s * S; p < (s + 1) * S; p++) {
                if (p < m->end) memcpy(buf + (p - s * S) * dk, lc_mem_key(m, h, p), (size_t)dk * sizeof(float));
                else lc_mem_load_row(k, 0, p - m->end, h, buf + (p - s * S) * dk);
            }
            st = build_index(m, buf, S, &fresh[(s - s_lo) * H + h]);
        }
    omp_set_num_threads(saved_threads);
    free(buf);
    if (st) {
        for (int64_t i = 0; fresh && i < n_new * H; i++)
            if (fresh[i]) faiss_Index_free(fresh[i]);
        free(fresh);
        return st;
    }

    /* 2. Commit: drop the indexes of segments losing their first token, write the rows. */
    for (int64_t s = m->first / S; s * S < first && s * S < m->end; s++)
        if (indexed(m, s))
            for (int64_t h = 0; h < H; h++) {
                faiss_Index_free(*slot(m, h, s));
                *slot(m, h, s) = NULL;
            }
    int64_t p0 = m->end > first ? m->end : first;
#pragma omp parallel for num_threads(m->c.threads) schedule(static)
    for (int64_t p = p0; p < end; p++)
        for (int64_t h = 0; h < H; h++) {
            lc_mem_load_row(k, 0, p - m->end, h, m->keys + (h * C + p % C) * dk);
            lc_mem_load_row(v, 0, p - m->end, h, m->values + (h * C + p % C) * dv);
        }
    m->first = first, m->end = end;
    for (int64_t s = s_lo; s < s_hi; s++)
        for (int64_t h = 0; h < H; h++) *slot(m, h, s) = fresh[(s - s_lo) * H + h];
    free(fresh);
    return LC_OK;
}

/* ---- search ------------------------------------------------------------------------------- */

/* A bounded min-heap of (score, position): the root is the worst kept entry. "Better"
 * means a higher score, then a lower position, so results are deterministic. */
typedef struct topk {
    float *score;
    int64_t *pos;
    int64_t n, k;
} topk;

static int better(float sa, int64_t pa, float sb, int64_t pb) { return sa > sb || (sa == sb && pa < pb); }

static void topk_sift_down(topk *t, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < t->n && better(t->score[w], t->pos[w], t->score[l], t->pos[l])) w = l;
        if (r < t->n && better(t->score[w], t->pos[w], t->score[r], t->pos[r])) w = r;
        if (w == i) return;
        float fs = t->score[i];
        int64_t fp = t->pos[i];
        t->score[i] = t->score[w], t->pos[i] = t->pos[w], t->score[w] = fs, t->pos[w] = fp;
        i = w;
    }
}

static void topk_push(topk *t, float s, int64_t p) {
    if (t->n < t->k) {
        int64_t i = t->n++;
        while (i > 0) { /* sift up: the parent must be no better than the child */
            int64_t par = (i - 1) / 2;
            if (!better(t->score[par], t->pos[par], s, p)) break;
            t->score[i] = t->score[par], t->pos[i] = t->pos[par];
            i = par;
        }
        t->score[i] = s, t->pos[i] = p;
    } else if (better(s, p, t->score[0], t->pos[0])) {
        t->score[0] = s, t->pos[0] = p;
        topk_sift_down(t, 0);
    }
}

/* Pops everything into score/pos, best first. */
static void topk_drain(topk *t, float *score, int64_t *pos) {
    for (int64_t i = t->n - 1; i >= 0; i--) {
        score[i] = t->score[0], pos[i] = t->pos[0];
        t->n--;
        t->score[0] = t->score[t->n], t->pos[0] = t->pos[t->n];
        topk_sift_down(t, 0);
    }
}

/* Exact scan of positions [p0, p1) of head h for the n_q queries Q; rows in chunks of
 * ring-contiguous keys, scores by sgemm. */
static void scan_exact(const lc_knn_memory *m, int64_t h, const float *Q, int64_t n_q, int64_t p0, int64_t p1, topk *heaps, float *S) {
    const int64_t C = m->c.capacity, dk = m->c.d_k;
    while (p0 < p1) {
        int64_t run = p1 - p0, to_wrap = C - p0 % C;
        if (run > to_wrap) run = to_wrap;
        if (run > SCAN_CHUNK) run = SCAN_CHUNK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_q, (int)run, (int)dk, 1.0f, Q, (int)dk, lc_mem_key(m, h, p0), (int)dk,
                    0.0f, S, (int)run);
#pragma omp parallel for num_threads(m->c.threads) schedule(static)
        for (int64_t i = 0; i < n_q; i++)
            for (int64_t j = 0; j < run; j++) topk_push(&heaps[i], S[i * run + j], p0 + j);
        p0 += run;
    }
}

lc_status lc_knn_memory_search(const lc_knn_memory *m, const lc_tensor *q, int64_t top_k, int64_t *positions, float *scores) {
    if (!m || !q || !positions || !scores) return lc_error(LC_EINVAL, "memory, q, positions and scores must not be NULL");
    lc_status st = lc_tensor_check(q, "q", 0);
    if (st) return st;
    const int64_t n_q = q->shape[1], hq = q->shape[2], dk = m->c.d_k, S = m->c.segment, size = m->end - m->first;
    if (q->shape[0] != 1) return lc_error(LC_EINVAL, "q.shape[0]=%lld: a kNN memory holds one sequence, batch must be 1", (long long)q->shape[0]);
    if (q->shape[3] != dk) return lc_error(LC_EINVAL, "q.shape[3]=%lld must equal the memory's d_k=%lld", (long long)q->shape[3], (long long)dk);
    if (hq % m->c.heads)
        return lc_error(LC_EINVAL, "q.shape[2]=%lld must be a multiple of the memory's heads=%lld", (long long)hq, (long long)m->c.heads);
    if (size == 0) return lc_error(LC_ESTATE, "the memory is empty: append keys and values before searching it");
    if (top_k < 1 || top_k > size)
        return lc_error(LC_ERANGE, "top_k=%lld must be in [1, %lld], the number of tokens the memory holds", (long long)top_k, (long long)size);

    const int64_t seg_k = top_k < S ? top_k : S;
    float *Q = malloc((size_t)(n_q * dk) * sizeof(float));
    float *hs = malloc((size_t)(n_q * top_k) * sizeof(float));
    int64_t *hp = malloc((size_t)(n_q * top_k) * sizeof(int64_t));
    float *D = malloc((size_t)(n_q * (seg_k > SCAN_CHUNK ? seg_k : SCAN_CHUNK)) * sizeof(float));
    int64_t *L = malloc((size_t)(n_q * seg_k) * sizeof(int64_t));
    topk *heaps = malloc((size_t)n_q * sizeof(topk));
    if (!Q || !hs || !hp || !D || !L || !heaps)
        st = lc_error(LC_ENOMEM, "cannot allocate the search's %.0f bytes of scratch for %lld queries x top_k=%lld",
                      (double)n_q * ((double)dk * 4 + (double)top_k * 12 + (double)(seg_k > SCAN_CHUNK ? seg_k : SCAN_CHUNK) * 4 + (double)seg_k * 8 + sizeof(topk)),
                      (long long)n_q, (long long)top_k);
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(m->c.threads);
    for (int64_t h = 0; !st && h < hq; h++) {
        const int64_t hm = h / (hq / m->c.heads);
        for (int64_t i = 0; i < n_q; i++) {
            lc_mem_load_row(q, 0, i, h, Q + i * dk);
            heaps[i] = (topk){hs + i * top_k, hp + i * top_k, 0, top_k};
        }
        for (int64_t s = m->first / S; s * S < m->end; s++) {
            if (!indexed(m, s)) {
                int64_t p0 = s * S > m->first ? s * S : m->first, p1 = (s + 1) * S < m->end ? (s + 1) * S : m->end;
                scan_exact(m, hm, Q, n_q, p0, p1, heaps, D);
                continue;
            }
            if (faiss_Index_search(*slot(m, hm, s), n_q, Q, seg_k, D, L)) {
                st = lc_error(LC_EINTERNAL, "FAISS search failed: %s", faiss_get_last_error());
                break;
            }
#pragma omp parallel for num_threads(m->c.threads) schedule(static)
            for (int64_t i = 0; i < n_q; i++)
                for (int64_t j = 0; j < seg_k; j++)
                    if (L[i * seg_k + j] >= 0) topk_push(&heaps[i], D[i * seg_k + j], s * S + L[i * seg_k + j]);
        }
        for (int64_t i = 0; !st && i < n_q; i++) {
            int64_t *po = positions + (h * n_q + i) * top_k;
            float *so = scores + (h * n_q + i) * top_k;
            int64_t got = heaps[i].n;
            topk_drain(&heaps[i], so, po);
            for (int64_t r = got; r < top_k; r++) po[r] = -1, so[r] = -INFINITY; /* an approximate index found fewer */
        }
    }
    omp_set_num_threads(saved_threads);
    free(Q), free(hs), free(hp), free(D), free(L), free(heaps);
    return st;
}
