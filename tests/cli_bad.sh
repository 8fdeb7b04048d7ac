#!/bin/sh
# Bad input to every longctx subcommand: each must exit with the documented status (2: the
# command line is wrong, 1: a step failed at run time, 0: --help) and, on an error, a sentence
# on stderr naming what is wrong; never crash. And a benchmark writes no file unless asked.
# Usage: cli_bad.sh LONGCTX FIXTURES_DIR
longctx="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
fx="$2"
fails=0
expect() { # expect STATUS WORD ARGS...: that status and WORD in stderr (WORD "" for --help)
  want="$1"; word="$2"; shift 2
  err=$("$longctx" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne "$want" ] || { [ -n "$word" ] && ! printf '%s' "$err" | grep -qF -- "$word"; }; then
    echo "FAIL: longctx $* -> status $rc, stderr: $err (want $want and '$word')"
    fails=$((fails + 1))
  fi
}
# wall
expect 2 "llama-9000" wall --model llama-9000
expect 1 "bad-truncated.json" wall --config "$fx/bad-truncated.json" --params 8B
expect 1 "not a JSON object" wall --config "$fx/bad-not-object.json" --params 8B
expect 1 "num_hidden_layers" wall --config "$fx/bad-string-layers.json" --params 8B
expect 1 "cannot open" wall --config "$fx/does-not-exist.json"
expect 2 "--lengths" wall --lengths -5
expect 2 "--lengths" wall --lengths 0
expect 2 "--lengths" wall --lengths 99999999999999999
expect 2 "--lengths" wall --lengths 1K,,2K
expect 2 "--lengths" wall --lengths 4K..1K
expect 2 "--lengths" wall --lengths " 4K"
expect 2 "--lengths" wall --lengths 1e3
expect 2 "--lengths" wall --lengths 0x10
expect 2 "fp5" wall --cache-dtype fp5
expect 2 "int3" wall --score-dtype int3
expect 2 "tpu" wall --gpu tpu
expect 2 "XB" wall --mem 80XB
expect 2 "--params" wall --params -3B
expect 2 "--params" wall --params nan
expect 2 "--params" wall --params inf
expect 2 "--params" wall --params 1e300
expect 2 "--batch" wall --batch 0
expect 2 "--batch" wall --batch 99999999999999999999999
expect 2 "--window" wall --window 12abc
expect 2 "--kv-heads" wall --kv-heads -1
expect 2 "ring" wall --techniques flash,ring
expect 2 "needs attention heads" wall --model mamba-2.8b --techniques flash
expect 2 "unknown option" wall --frobnicate 3
expect 2 ".png or .svg" wall --plot out.jpg
expect 0 "" wall --help
# report
expect 2 "--threads" report --lengths 1K --threads 100000
expect 2 "--threads" report --threads -1
expect 2 "--threads" report --threads 4x
expect 2 "--dim" report --dim 0
expect 2 "--lengths" report --lengths 1T
expect 2 "--naive-max" report --naive-max -3
expect 2 "needs" report --lengths 1M --naive-max 1M
expect 2 "needs a value" report --lengths
expect 2 "unknown option" report --frobnicate
expect 0 "" report --help
# bench
expect 0 "" bench --help
expect 2 "unknown benchmark" bench nothing
expect 0 "" bench attention --help
expect 0 "" bench memory --help
expect 0 "" bench decode --help
expect 0 "" bench linear --help
expect 0 "" bench mla --help
expect 2 "--threads" bench attention --threads 1000000000
expect 2 "--lengths" bench attention --lengths 1K,-2K
expect 2 "unknown option" bench attention --frob
expect 2 "--top-k" bench memory --top-k 2000 --sizes 1K
expect 2 "--queries" bench memory --queries 0
expect 2 "--d" bench memory --d 1e3
expect 2 "--isa" bench decode --isa mmx
expect 2 "--dtypes" bench decode --dtypes f13
expect 2 "--lengths" bench decode --lengths 8
expect 2 "--dim" bench linear --dim 0
expect 2 "--heads" bench linear --heads 5000
expect 2 "--tokens" bench mla --tokens 0
expect 2 "--heads" bench mla --heads 1x
expect 2 "--reps" bench mla --reps 100000
expect 0 "" bench ssm --help
expect 0 "" bench prefill --help
expect 2 "--chunk" bench prefill --chunk 0
expect 2 "--dtypes" bench prefill --dtypes int4
expect 2 "unknown option" bench prefill --frob
expect 0 "" bench peers --help
expect 2 "--groups 5 must divide --heads 48" bench ssm --groups 5
expect 2 "--state" bench ssm --state 0
expect 2 "unknown option" bench ssm --frob
expect 2 "--reps" bench peers --reps 0
expect 2 "unknown option" bench peers --frob
# patterns
expect 2 "--n" patterns --n 2
expect 2 "--n" patterns --n 12abc
expect 2 "no pattern named" patterns --only nothing
expect 2 ".png or .svg" patterns --plot x.pdf
expect 0 "" patterns --help
# run and tokenize
expect 2 "--threads" run --model x --tokens 1 --threads 100000
expect 2 "-n" run --model x --tokens 1 -n -1
expect 2 "--temperature" run --model x --tokens 1 --temperature nan
expect 2 "--tokens" run --model x --tokens "1 two"
expect 1 "cannot" run --model "$fx/no-such-model" --tokens 1
expect 0 "" run --help
expect 1 "no-such-model" tokenize --model "$fx/no-such-model" --text hi
expect 2 "--decode" tokenize --model x --decode "1 -2"
expect 0 "" tokenize --help
# the command itself
expect 2 "unknown command" frobnicate
expect 0 "" help
expect 0 "" --version
# a benchmark writes nothing unless --json is given, wherever it runs
dir=$(mktemp -d)
(cd "$dir" && "$longctx" bench attention --quick --lengths 64 --dims 16 >/dev/null 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$dir")" ]; then
  echo "FAIL: bench attention --quick in an empty directory: status $rc, left: $(ls -A "$dir")"
  fails=$((fails + 1))
fi
rm -rf "$dir"
if [ "$fails" -ne 0 ]; then echo "$fails bad-input cases failed"; exit 1; fi
echo "all bad-input cases exit with their status and a sentence"
