#!/usr/bin/env bash
# Every measured run of talk 000's model (nmt_attention), as committed under checkpoints/nmt_attention/:
# 8 RAVDESS variants x 5 folds by actor (each fold its own process, seed = fold index; two at a time,
# one thread each), merged per variant into cv/<variant>.json; the text branch on GoEmotions and MELD;
# the fold-0 models of the three alignments (for notebook 01's attention maps); the final checkpoint.
# About 5 hours on a 2-core CPU. Usage: bash scripts/nmt_attention_runs.sh [DATA_DIR] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
RUNS=${2:-runs/nmt_attention}
OUT=checkpoints/nmt_attention
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1
mkdir -p "$RUNS" "$OUT/cv"

variant_options() {  # variant -> recipe options
  case $1 in
    audio) echo "mode=audio" ;;
    text_real) echo "mode=text" ;;
    fusion_global_real) echo "alignment=global" ;;
    fusion_local_real) echo "alignment=local" ;;
    fusion_forced_real) echo "alignment=forced" ;;
    text_constructed) echo "mode=text pairing=constructed text_root=$DATA/goemotions" ;;
    fusion_global_constructed) echo "alignment=global pairing=constructed text_root=$DATA/goemotions" ;;
    fusion_local_constructed) echo "alignment=local pairing=constructed text_root=$DATA/goemotions" ;;
  esac
}
VARIANTS="audio text_real fusion_global_real fusion_local_real fusion_forced_real text_constructed fusion_global_constructed fusion_local_constructed"

one_fold() {  # variant fold
  local opts="" o
  for o in $(variant_options "$1"); do opts="$opts --option $o"; done
  [[ $1 == fusion_*_real ]] && opts="$opts --option fold_models=$RUNS/models/$1"
  [ -s "$RUNS/$1_f$2.json" ] || $PY -m emodemo -v train nmt_attention --root "$DATA/ravdess_speech" --cv --no-final \
      --folds "$2" --seed "$2" $opts --results "$RUNS/$1_f$2.json" > "$RUNS/$1_f$2.log" 2>&1
}
export -f one_fold variant_options
export DATA RUNS PY

for v in $VARIANTS; do for f in 0 1 2 3 4; do echo "$v $f"; done; done | xargs -P 2 -n 2 bash -c 'one_fold "$0" "$1"'
for v in $VARIANTS; do $PY -m emodemo merge "$RUNS/${v}"_f?.json --out "$OUT/cv/$v.json"; done
for alignment in global local forced; do
  mkdir -p "$OUT/fold0/$alignment"
  cp "$RUNS/models/fusion_${alignment}_real/fold0/"{config.json,model.safetensors,MODEL_CARD.md} "$OUT/fold0/$alignment/"
done
$PY -m emodemo -v train nmt_attention --dataset goemotions --root "$DATA/goemotions" --no-final \
    --option mode=text --option batch_size=64 --results "$OUT/cv/text_goemotions.json"
$PY -m emodemo -v train nmt_attention --dataset meld --root "$DATA/meld_text" --no-final \
    --option mode=text --results "$OUT/cv/text_meld.json"
$PY -m emodemo -v train nmt_attention --root "$DATA/ravdess_speech" --out "$OUT" --option alignment=forced \
    --results "$RUNS/final.json"
