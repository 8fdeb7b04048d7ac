/* Mamba and Mamba-2 layers of the runner: the library's mixers (include/longctx/ssm.h:
 * lc_mamba_prefill / lc_mamba_step, lc_mamba2_prefill / lc_mamba2_step) on each run's rows,
 * continuing from and leaving the sequence's conv and SSM states in the context. A run of
 * several tokens is a prefill (sgemm projections, the scan or the chunked SSD), a single token
 * a step. */
#include "arch_internal.h"

lc_status lc_arch_mamba(lc_context *ctx, int64_t l, const lc_run *runs, int n_runs, const float *h, float *out) {
    const lc_model *m = ctx->model;
    const int64_t H = m->cfg.hidden;
    const lc_layer_ext *x = &m->ext[l];
    lc_layer_state *s = &ctx->ext->layer[l];
    const int m2 = m->cfg.layer[l].mixer == LC_MIXER_MAMBA2;
    for (int i = 0; i < n_runs; i++) {
        const lc_run *r = &runs[i];
        lc_mixer_io io = {1, r->m, h + r->row * H, out + r->row * H, s->conv + r->seq * s->conv_floats, s->conv_floats,
                          s->ssm + r->seq * s->ssm_floats, s->ssm_floats, ctx->threads};
        lc_status st = m2 ? (r->m > 1 ? lc_mamba2_prefill(&x->mamba2, &io) : lc_mamba2_step(&x->mamba2, &io))
                          : (r->m > 1 ? lc_mamba_prefill(&x->mamba, &io) : lc_mamba_step(&x->mamba, &io));
        if (st) return st;
    }
    return LC_OK;
}
