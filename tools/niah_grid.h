/* The grid behind `longctx niah` and `longctx recall`: one model, every technique, every
 * (length, depth, sample) cell through lc_niah_run; per-length summaries; JSON both ways;
 * the heatmap and the frontier plots (niah_plot.c). */
#ifndef LONGCTX_TOOLS_NIAH_GRID_H
#define LONGCTX_TOOLS_NIAH_GRID_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "longctx.h"

typedef struct niah_cell {
    int64_t length;
    double depth; /* percent */
    int sample;
    int64_t needle_pos;     /* the asked needle's first id */
    char expected[160];     /* the values, comma-separated */
    lc_niah_result r;
} niah_cell;

typedef struct niah_summary {
    int64_t length;
    int cells;
    double recall;            /* mean score over depths and samples */
    double bytes_per_token;   /* mean state_bytes / length */
    double prefill_s_per_token, decode_s_per_token;
    double rag_hits;          /* RAG: fraction of cells whose chosen chunks held the needle; -1 n/a */
} niah_summary;

typedef struct niah_tech {
    lc_recall_technique tech;
    char plan[256];           /* lc_context_describe of the plan */
    char refused[400];        /* non-empty: the model refused the plan (the sentence); no cells */
    niah_cell *cells;
    int n_cells;
    niah_summary *by_length;  /* [n_lengths] */
} niah_tech;

typedef struct niah_grid {
    char model[512], label[64], model_type[32];
    double params;
    int64_t train_length;     /* --train-length, else config.json's max_position_embeddings */
    int train_length_given;   /* 1: from --train-length (titles say "trained to") */
    int64_t *lengths;
    int n_lengths;
    double *depths;           /* percent */
    int n_depths;
    int samples, keys, values;
    uint64_t seed;
    niah_tech *tech;
    int n_tech;
} niah_grid;

/* "256,1K..8K" (a..b doubles) into a malloc'd list; -1 with a message on a bad list. */
int niah_parse_lengths(const char *text, int64_t **out, int *n);
/* "0..100:10,5" (a..b:step) percents into a malloc'd list. */
int niah_parse_depths(const char *text, double **out, int *n);

/* Runs every cell; progress lines on stderr unless quiet. Returns 0, or 1 with a sentence on
 * stderr (a plan a model refuses is recorded in niah_tech.refused, not an error). */
int niah_grid_run(niah_grid *g, const lc_model *m, const lc_tokenizer *t, const lc_niah_run_config *rc, int quiet);
void niah_grid_summarize(niah_grid *g);
void niah_grid_free(niah_grid *g);
/* The table on f: per technique, recall by depth x length and the per-length summary. */
void niah_grid_print(const niah_grid *g, FILE *f);

cJSON *niah_grid_json(const niah_grid *g);
/* Reads what niah_grid_json wrote; 0, or -1 with a message naming the file. */
int niah_grid_from_json(const cJSON *j, const char *label, niah_grid *g);
int niah_write_json(cJSON *j, const char *path); /* takes j; 0 or -1 with a message */
cJSON *niah_read_json(const char *path);         /* NULL with a message */

/* Depth x length heatmaps, one panel per technique (niah_plot.c). */
int niah_plot_heatmaps(const niah_grid *g, const char *path);
/* Recall against state bytes per token and against time per token, one row of panels per
 * length, every (model, technique) a marker (niah_plot.c). */
int niah_plot_frontier(const niah_grid *grids, int n, const char *path);

#endif
