/* longctx core: status codes, dtypes, strided tensor views, threads and pools, CPU features,
 * aligned allocation and a counter-based RNG. */
#ifndef LONGCTX_CORE_H
#define LONGCTX_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------------------- */

typedef enum lc_status {
    LC_OK = 0,
    LC_EINVAL = 1,       /* an argument or descriptor field is invalid */
    LC_ENOMEM = 2,       /* an allocation failed or would pass a caller-set limit */
    LC_EUNSUPPORTED = 3, /* valid, but not supported by this build or kernel */
    LC_ERANGE = 4,       /* an index, position or capacity is out of range */
    LC_ESTATE = 5,       /* the call is not valid in the object's current state */
    LC_EIO = 6,          /* reading or writing a file failed */
    LC_EFORMAT = 7,      /* a file or text is not in the expected format */
    LC_EINTERNAL = 8     /* a bug in longctx: please report it */
} lc_status;

/* The name of a status code ("LC_EINVAL"); never NULL. */
const char *lc_status_str(lc_status s);

/* The sentence that explains the last error raised on this thread
 * ("k.shape[2]=8 must divide q heads=12"); "" if none. */
const char *lc_last_error(void);

/* Sets this thread's error sentence and returns s (for `return lc_error(...)`).
 * Exposed for the library's own modules and for code that extends it. */
lc_status lc_error(lc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- dtypes ------------------------------------------------------------------------- */

/* One storage dtype enum for the whole library. Tensor views (lc_tensor) and the kernels
 * over them hold the float types f32, f16 and bf16; KV caches also store int8 and fp8
 * (e4m3) with one scale per row; the cost model also prices int4. */
typedef enum lc_dtype { LC_F32 = 0, LC_F16 = 1, LC_BF16 = 2, LC_INT8 = 3, LC_FP8 = 4, LC_INT4 = 5 } lc_dtype;
#define LC_DTYPE_COUNT 6

size_t lc_dtype_size(lc_dtype t);      /* bytes per element; 0 for int4 (see lc_dtype_bits) or an unknown dtype */
int lc_dtype_bits(lc_dtype t);         /* 32, 16, 16, 8, 8, 4; 0 for an unknown dtype */
double lc_dtype_bytes(lc_dtype t);     /* bits / 8 (0.5 for int4), as the cost model counts them */
const char *lc_dtype_name(lc_dtype t); /* "f32", "f16", "bf16", "int8", "fp8", "int4"; "?" */
int lc_dtype_is_float(lc_dtype t);     /* 1 for the tensor-view types f32, f16, bf16 */
/* Accepts each name and the aliases fp32/float32, fp16/float16, bfloat16, float8/e4m3, q8, q4. */
lc_status lc_dtype_parse(const char *text, lc_dtype *out);

/* IEEE binary16 and bfloat16 conversions. float -> 16 bit rounds to nearest, ties to
 * even; overflow gives infinity; NaN stays NaN (quiet, sign kept). */
uint16_t lc_f32_to_f16(float x);
float lc_f16_to_f32(uint16_t h);
uint16_t lc_f32_to_bf16(float x);
float lc_bf16_to_f32(uint16_t h);

/* Converts n contiguous elements between any two float dtypes (f32, f16, bf16). */
void lc_convert(void *dst, lc_dtype dst_type, const void *src, lc_dtype src_type, size_t n);

/* ---- strided tensor views ------------------------------------------------------------ */

/* A view of a [batch, seq, heads, dim] tensor. Strides are in elements and may be any
 * non-negative values, so both BSHD and BHSD storage work without copies. `capacity` is
 * the number of elements addressable from `data`: every element of the view must lie
 * below it, which is how the library checks a view against its buffer. */
typedef struct lc_tensor {
    void *data;
    lc_dtype dtype;
    int64_t shape[4];  /* batch, seq, heads, dim */
    int64_t stride[4]; /* elements */
    int64_t capacity;  /* elements available from data */
} lc_tensor;

enum { LC_BATCH = 0, LC_SEQ = 1, LC_HEADS = 2, LC_DIM = 3 };

/* A contiguous [batch, seq, heads, dim] view (BSHD, the layout of Hugging Face). */
lc_tensor lc_tensor_bshd(void *data, lc_dtype t, int64_t batch, int64_t seq, int64_t heads, int64_t dim);
/* A contiguous [batch, heads, seq, dim] buffer seen as [batch, seq, heads, dim] (BHSD). */
lc_tensor lc_tensor_bhsd(void *data, lc_dtype t, int64_t batch, int64_t seq, int64_t heads, int64_t dim);

/* Validates a view: t and data set, data aligned to the dtype's element size, known dtype,
 * sizes > 0, strides >= 0, every element below capacity, no offset overflow. When
 * `writable`, distinct indices must also address distinct elements. `name` labels the
 * sentence ("q", "out"). */
lc_status lc_tensor_check(const lc_tensor *t, const char *name, int writable);

/* Element offset of index (b, s, h, d); no checking. */
static inline int64_t lc_tensor_offset(const lc_tensor *t, int64_t b, int64_t s, int64_t h, int64_t d) {
    return b * t->stride[0] + s * t->stride[1] + h * t->stride[2] + d * t->stride[3];
}

/* First and one-past-last byte the view touches, for overlap checks. */
void lc_tensor_byte_range(const lc_tensor *t, uintptr_t *lo, uintptr_t *hi);

/* ---- aligned allocation ---------------------------------------------------------------- */

/* Memory aligned to `align` bytes (a power of two >= sizeof(void*)); NULL on failure,
 * with LC_ENOMEM's sentence set. Free with lc_aligned_free. */
void *lc_aligned_alloc(size_t bytes, size_t align);
void lc_aligned_free(void *p);
/* A buffer read as long streams (KV cache pools): on a cache line, so rows of 64-byte
 * multiples never straddle two, and from 4 MiB on a 2 MiB boundary with transparent huge
 * pages asked for (fewer TLB misses when rows are walked kilobytes apart). Free with
 * lc_aligned_free. */
void *lc_stream_alloc(size_t bytes);

/* ---- threads ---------------------------------------------------------------------------- */

/* The most threads any kernel runs: a larger request (a descriptor's `threads`, or
 * $LONGCTX_THREADS) is clamped to it. */
#define LC_THREADS_MAX 1024
/* The thread count used when a descriptor says 0: $LONGCTX_THREADS when set to a
 * positive integer, otherwise the number of processors OpenMP reports (at most
 * LC_THREADS_MAX either way). */
int lc_threads_default(void);
/* `requested` if positive (clamped to LC_THREADS_MAX), else lc_threads_default(). */
int lc_threads_resolve(int requested);

/* A pool of worker threads for a caller that runs many short parallel steps (a model's decode:
 * ~200 per token). OpenMP ends each parallel region in a barrier of its whole team and
 * libgomp's idle threads spin for milliseconds (OMP_WAIT_POLICY is read once at process start);
 * on a machine with more runnable threads than cores that costs a time slice per region. A
 * pool's job ends when its tasks are done, whichever threads ran them (a worker not yet
 * scheduled holds nothing up), and its idle threads yield their core, then sleep. One caller at
 * a time per pool. */
typedef struct lc_pool lc_pool;
/* threads in all, the caller included (threads - 1 workers are started); 0: the default. */
lc_status lc_pool_create(int threads, lc_pool **out);
void lc_pool_destroy(lc_pool *p);
int lc_pool_threads(const lc_pool *p);
/* fn(arg, task, thread) for every task in [0, tasks) (tasks < 2^20), on the caller (thread 0)
 * and the workers (threads 1 .. lc_pool_threads - 1: per-thread scratch); returns when all are
 * done. */
lc_status lc_pool_run(lc_pool *p, int64_t tasks, void (*fn)(void *arg, int64_t task, int thread), void *arg);

/* ---- CPU features ------------------------------------------------------------------------ */

typedef enum lc_isa {
    LC_ISA_AUTO = 0,     /* the best path this CPU supports */
    LC_ISA_PORTABLE = 1, /* plain C */
    LC_ISA_AVX2 = 2,     /* AVX2 + FMA + F16C */
    LC_ISA_AVX512 = 3    /* AVX-512 F/BW/DQ/VL */
} lc_isa;

lc_isa lc_isa_best(void);
int lc_isa_supported(lc_isa isa); /* 1 if this CPU (and build) can run the path */
const char *lc_isa_name(lc_isa isa);
/* LC_ISA_AUTO becomes the best path; an unsupported path is an LC_EUNSUPPORTED error. */
lc_status lc_isa_resolve(lc_isa requested, lc_isa *resolved);

/* ---- counter-based RNG ------------------------------------------------------------------- */

/* Philox4x32-10 (Salmon et al., SC'11): a keyed bijection of a 128-bit counter. Every
 * draw is a pure function of (seed, index), so results never depend on the number of
 * threads or on the order in which draws are made. */
void lc_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

uint32_t lc_rng_u32(uint64_t seed, uint64_t index);
double lc_rng_uniform(uint64_t seed, uint64_t index); /* [0, 1), 53 random bits */
double lc_rng_normal(uint64_t seed, uint64_t index);  /* standard normal (Box-Muller) */
/* Uniform integer in [0, n), n > 0, unbiased. */
uint64_t lc_rng_below(uint64_t seed, uint64_t index, uint64_t n);

/* Fills x[i] for i < n with draw number offset+i, on `threads` threads (0: default). */
void lc_rng_fill_uniform(float *x, size_t n, uint64_t seed, uint64_t offset, float lo, float hi, int threads);
void lc_rng_fill_normal(float *x, size_t n, uint64_t seed, uint64_t offset, float mean, float stddev, int threads);

/* Library version. */
const char *lc_version(void);

#ifdef __cplusplus
}
#endif
#endif
