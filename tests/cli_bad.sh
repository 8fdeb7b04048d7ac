#!/bin/sh
# Bad input to `longctx wall` and `longctx patterns`: each must exit with status 2 and a
# sentence on stderr naming what is wrong, never crash. Usage: cli_wall_bad.sh LONGCTX FIXTURES_DIR
longctx="$1"
fx="$2"
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
expect "llama-9000" wall --model llama-9000
expect "bad-truncated.json" wall --config "$fx/bad-truncated.json" --params 8B
expect "not a JSON object" wall --config "$fx/bad-not-object.json" --params 8B
expect "num_hidden_layers" wall --config "$fx/bad-string-layers.json" --params 8B
expect "cannot open" wall --config "$fx/does-not-exist.json"
expect "--lengths" wall --lengths -5
expect "--lengths" wall --lengths 0
expect "--lengths" wall --lengths 99999999999999999
expect "--lengths" wall --lengths 1K,,2K
expect "--lengths" wall --lengths 4K..1K
expect "fp5" wall --cache-dtype fp5
expect "int3" wall --score-dtype int3
expect "tpu" wall --gpu tpu
expect "XB" wall --mem 80XB
expect "--params" wall --params -3B
expect "--batch" wall --batch 0
expect "ring" wall --techniques flash,ring
expect "needs attention heads" wall --model mamba-2.8b --techniques flash
expect "unknown option" wall --frobnicate 3
expect ".png or .svg" wall --plot out.jpg
expect "--n" patterns --n 2
expect "no pattern named" patterns --only nothing
expect ".png or .svg" patterns --plot x.pdf
if [ "$fails" -ne 0 ]; then echo "$fails bad-input cases failed"; exit 1; fi
echo "all bad-input cases exit 2 with a sentence"
