/* bench/ssm: the SSM steps against their state's read-and-write floor (see ssm_bench.c). */
#include "ssm_bench.h"

int main(int argc, char **argv) { return lc_bench_ssm_main(argc, argv); }
