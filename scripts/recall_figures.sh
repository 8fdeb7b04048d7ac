#!/bin/sh
# Every figure and table of docs/recall.md, from runs of longctx on the models in models/recall/
# (scripts/make_induction_model.py makes the induction model; scripts/train_recall_models.py
# trains the others). Usage, from the repository root
# after building (build/longctx):
#
#   sh scripts/recall_figures.sh [MODELS_DIR [OUT_DIR]]       # defaults: models/recall docs/img/recall
#   MODELS="induction llama" LENGTHS=256..8K DEPTHS=0..100:25 TRAIN=256 sh scripts/recall_figures.sh
#
# Writes OUT_DIR/niah-<model>[-mk|-mv].{png,json,txt}, OUT_DIR/parity-<model>.json and
# OUT_DIR/frontier.{png,json,txt}. Progress goes to stderr.
set -e
L=${LONGCTX:-build/longctx}
M=${1:-models/recall}
O=${2:-docs/img/recall}
mkdir -p "$O"
LENGTHS=${LENGTHS:-128,256,512,1K,2K,4K,8K,16K}
DEPTHS=${DEPTHS:-0..100:10}
TRAIN=${TRAIN:-128}

MODELS=${MODELS:-induction llama mistral mamba2}
# the hand-built induction model is made, not trained (NumPy): scripts/make_induction_model.py
case " $MODELS " in *" induction "*)
  [ -f "$M/induction/config.json" ] || ${PYTHON:-python3} scripts/make_induction_model.py "$M/induction" --tokenizer-from "$M/llama" ;;
esac
ROPE_MODEL="full window:64 sinks:4,60 window:64+knn:16 window:64+blocks:2,32 kv:int8 kv:fp8 rope:linear:4 rope:ntk:4 rope:dynamic:4 rope:yarn:4 rope:yarn:16 rag:2,32"
for model in $MODELS; do
  [ -f "$M/$model/config.json" ] || continue
  case $model in
    induction | llama) T="$ROPE_MODEL" ;;
    mistral) T="full sinks:4,60 knn:16 blocks:2,32 kv:int8 kv:fp8 rope:yarn:4 rag:2,32" ;;
    *) T="full rag:2,32" ;;
  esac
  args=""
  for t in $T; do args="$args --technique $t"; done
  tl="--train-length $TRAIN" # the made model was trained to no length: its titles name max_position_embeddings
  [ "$model" = induction ] && tl=""
  # longctx's greedy answers against PyTorch's on the training script's prompts
  [ -f "$M/$model/parity.json" ] && $L niah --model "$M/$model" --parity "$M/$model/parity.json" --json "$O/parity-$model.json" > "$O/parity-$model.txt"
  $L niah --model "$M/$model" $tl --lengths "$LENGTHS" --depths "$DEPTHS" $args \
    --json "$O/niah-$model.json" --plot "$O/niah-$model.png" > "$O/niah-$model.txt"
  # multi-key (4 needles, one asked) and multi-value (2 values asked)
  $L niah --model "$M/$model" $tl --lengths "$LENGTHS" --depths 0..100:20 --keys 4 \
    --technique full --technique rag:2,32 --json "$O/niah-$model-mk.json" --plot "$O/niah-$model-mk.png" > "$O/niah-$model-mk.txt"
  $L niah --model "$M/$model" $tl --lengths "$LENGTHS" --depths 0..100:20 --values 2 \
    --technique full --technique rag:2,32 --json "$O/niah-$model-mv.json" --plot "$O/niah-$model-mv.png" > "$O/niah-$model-mv.txt"
done
inputs=$(ls "$O"/niah-*.json | grep -v -- '-mk\|-mv' | tr '\n' ',' | sed 's/,$//')
$L recall --inputs "$inputs" --json "$O/frontier.json" --plot "$O/frontier.png" > "$O/frontier.txt"
echo "recall_figures: wrote $O" >&2
