#!/bin/sh
# longctx niah and longctx recall: a small grid on a golden checkpoint (JSON, heatmaps, the
# frontier from the JSON), --help, and bad input (status 2 with a sentence naming it).
# Usage: cli_niah.sh LONGCTX FIXTURES_DIR OUT_DIR
longctx="$1"
fx="$2"
out="$3"
fails=0
expect() { # expect WORD ARGS...: status 2 and WORD in stderr
  word="$1"; shift
  err=$("$longctx" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ] || ! printf '%s' "$err" | grep -qF -- "$word"; then
    echo "FAIL: longctx $* -> status $rc, stderr: $err (want 2 and '$word')"
    fails=$((fails + 1))
  fi
}
run() { # run ARGS...: status 0
  if ! "$longctx" "$@" > "$out/cli_niah.out" 2> "$out/cli_niah.err"; then
    echo "FAIL: longctx $* -> status $?:"; cat "$out/cli_niah.err"
    fails=$((fails + 1))
  fi
}
m="$fx/models/llama"
run niah --help
run recall --help
run niah --model "$m" --lengths 200,300 --depths 0..100:50 --technique full --technique sinks:4,32 --technique rag:1,32 \
  --technique rope:yarn:2 --keys 2 --threads 1 --quiet --json "$out/niah_cli.json" --plot "$out/niah_cli.png"
grep -q "^## sinks:4,32" "$out/cli_niah.out" || { echo "FAIL: the table has no sinks:4,32 section"; fails=$((fails + 1)); }
grep -q '"by_length"' "$out/niah_cli.json" || { echo "FAIL: niah_cli.json has no by_length"; fails=$((fails + 1)); }
run recall --inputs "$out/niah_cli.json,$out/niah_cli.json" --quiet --json "$out/recall_cli.json" --plot "$out/recall_cli.svg"
grep -q "| llama | rag:1,32 | 300 |" "$out/cli_niah.out" || { echo "FAIL: the frontier table has no llama rag:1,32 row at 300"; fails=$((fails + 1)); }
run recall --models "tiny=$m" --lengths 200 --depths 50 --technique window:16 --quiet
expect "--model" niah
expect "--lengths" niah --model "$m" --lengths 0
expect "--lengths" niah --model "$m" --lengths 2K..1K
expect "--lengths" niah --model "$m" --lengths 1K,,2K
expect "--depths" niah --model "$m" --depths 101
expect "--depths" niah --model "$m" --depths 0..100:0
expect "unknown technique" niah --model "$m" --technique dilated:3
expect "knn:K" niah --model "$m" --technique knn:0
expect "window" niah --model "$m" --technique window:0
expect "--keys" niah --model "$m" --keys 0
expect "--samples" niah --model "$m" --samples x
expect ".png or .svg" niah --model "$m" --plot heat.jpg
expect "unknown option" niah --model "$m" --frobnicate 3
expect "one of them" recall
expect "one of them" recall --models a --inputs b.json
expect "rope" recall --models "$m" --technique rope:cubic:2
if "$longctx" niah --model "$fx/does-not-exist" --lengths 200 --depths 50 > /dev/null 2>&1; then
  echo "FAIL: a missing checkpoint must fail"; fails=$((fails + 1))
fi
if [ "$fails" -ne 0 ]; then echo "$fails cases failed"; exit 1; fi
echo "longctx niah / recall: grid, JSON, plots, frontier and bad input as expected"
