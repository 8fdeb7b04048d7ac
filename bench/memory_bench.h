/* The memory benchmark: kNN memory search (exact, HNSW, IVF) and block retrieval against
 * flash attention over the same tokens, measured in one run. Entry point shared by
 * bench/memory and `longctx bench memory`. */
#ifndef LONGCTX_MEMORY_BENCH_H
#define LONGCTX_MEMORY_BENCH_H

int lc_bench_memory_main(int argc, char **argv);

#endif
