/* safetensors checkpoints as Hugging Face saves them (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data]
 *   header = {"name": {"dtype": "F32", "shape": [a, b], "data_offsets": [begin, end]}, ...,
 *             "__metadata__": {"key": "value", ...}}           (offsets relative to data)
 *
 * A set is one file, or the shards named by a model.safetensors.index.json
 * ({"weight_map": {"name": "model-00001-of-00002.safetensors", ...}}). Files are mmap'd
 * read-only and tensors point into the mapping: nothing is copied.
 *
 * Everything is validated when the set is opened, so a set that opens is whole: the header
 * length within the file, the JSON, every dtype (F32, F16 and BF16 are read; the others
 * are refused with LC_EUNSUPPORTED), shapes, offsets inside the data, end - begin equal to
 * the dtype's size times the shape's product, the data covered exactly once (no overlap,
 * no hole, nothing after the last tensor, as the reference implementation requires), no
 * name twice (in a file or across shards) and every tensor of the index present in the
 * file it names. A bad set is an error with a sentence naming the file and the field;
 * never a crash or a partial load. */
#ifndef LONGCTX_SAFETENSORS_H
#define LONGCTX_SAFETENSORS_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_ST_MAX_DIMS 8

typedef struct lc_st_tensor {
    const char *name;  /* owned by the set */
    const char *file;  /* path of the file it lies in, owned by the set */
    lc_dtype dtype;    /* LC_F32, LC_F16 or LC_BF16 */
    int ndim;          /* 0 (a scalar) .. LC_ST_MAX_DIMS */
    int64_t shape[LC_ST_MAX_DIMS];
    int64_t numel;     /* product of the shape (1 for a scalar) */
    const void *data;  /* in the read-only mapping; aligned to the dtype only if the file's
                          offsets make it so (check before reading it as float *) */
    size_t bytes;      /* numel * dtype size */
} lc_st_tensor;

typedef struct lc_safetensors lc_safetensors;

/* Opens a set: `path` is a .safetensors file, a *.safetensors.index.json, or a directory
 * holding model.safetensors.index.json (preferred) or model.safetensors. */
lc_status lc_safetensors_open(const char *path, lc_safetensors **out);
void lc_safetensors_destroy(lc_safetensors *st);

int64_t lc_safetensors_count(const lc_safetensors *st);
/* Tensor i < count, in name order. */
const lc_st_tensor *lc_safetensors_at(const lc_safetensors *st, int64_t i);
/* The tensor called name, or NULL. */
const lc_st_tensor *lc_safetensors_find(const lc_safetensors *st, const char *name);
/* Files in the set and the bytes mapped (whole files). */
int lc_safetensors_file_count(const lc_safetensors *st);
size_t lc_safetensors_mapped_bytes(const lc_safetensors *st);
/* The value of key in the __metadata__ of the first file that has it, or NULL. */
const char *lc_safetensors_metadata(const lc_safetensors *st, const char *key);

/* "F32", "F16", "BF16" for the readable dtypes. */
const char *lc_st_dtype_name(lc_dtype t);

#ifdef __cplusplus
}
#endif
#endif
