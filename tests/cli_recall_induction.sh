#!/bin/sh
# The recall harness end to end on the hand-built induction model (scripts/make_induction_model.py):
# it recalls every needle with full attention, loses the ones a window drops, gets them back with
# the kNN memory, and loses all of them when linear RoPE interpolation moves its positional heads.
# Usage: cli_recall_induction.sh LONGCTX SOURCE_DIR OUT_DIR    (exit 77: no python3 with numpy)
longctx="$1"
src="$2"
out="$3/induction-model"
py=""
for p in /usr/bin/python3 python3; do
  if [ -z "$py" ] && "$p" -c "import numpy" 2>/dev/null; then py="$p"; fi
done
[ -n "$py" ] || { echo "cli_recall_induction: no python3 with numpy: skipped"; exit 77; }
"$py" "$src/scripts/make_induction_model.py" "$out" --tokenizer-from "$src/models/recall/llama" || exit 1
"$longctx" niah --model "$out" --lengths 256,600 --depths 0..100:50 --technique full --technique window:48 \
  --technique window:48+knn:8 --technique rope:linear:4 --threads 1 --quiet > "$out/niah.md" || { cat "$out/niah.md"; exit 1; }
# the mean row of each technique's table: "| **mean** | **1.00** | **0.33** |"
mean() { awk -v t="## $1" '$0 == t { on = 1; next } /^## / { on = 0 } on && /\*\*mean\*\*/ { gsub(/[*| ]+/, " "); print; exit }' "$out/niah.md"; }
fails=0
check() { # check TECHNIQUE "mean VALUES"
  got=$(mean "$1" | sed 's/^ *//; s/ *$//')
  [ "$got" = "$2" ] || { echo "FAIL: $1: '$got', want '$2'"; fails=$((fails + 1)); }
}
check full "mean 1.00 1.00"
check window:48 "mean 0.33 0.33"
check window:48+knn:8 "mean 1.00 1.00"
check rope:linear:4 "mean 0.00 0.00"
[ "$fails" = 0 ] || { cat "$out/niah.md"; exit 1; }
echo "cli_recall_induction: full, window, knn and linear RoPE recalled as the circuit says"
