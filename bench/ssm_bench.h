/* The state-space benchmark: the recurrent steps of Mamba (selective scan) and Mamba-2 (SSD)
 * at the shapes of real layers against the time to read and write their state once, and
 * their 512-token scans. Entry point shared by bench/ssm and `longctx bench ssm`. */
#ifndef LONGCTX_SSM_BENCH_H
#define LONGCTX_SSM_BENCH_H

int lc_bench_ssm_main(int argc, char **argv);

#endif
