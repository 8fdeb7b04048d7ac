/* The longctx command's subcommands: one file each. */
#ifndef LONGCTX_COMMANDS_H
#define LONGCTX_COMMANDS_H

int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ring(int argc, char **argv);
int cmd_wall(int argc, char **argv);
int cmd_patterns(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_niah(int argc, char **argv);
int cmd_recall(int argc, char **argv);

#endif
