#!/usr/bin/env bash
# Every measured run of talk 002's models (ssl_mha), as committed under checkpoints/ssl_mha/:
# 15 RAVDESS variants x 5 folds by actor (one process per variant, seed = fold index; two at a time, one
# thread each), written to cv/<variant>.json with the chance row of the same folds; then the final
# checkpoints on constructed GoEmotions pairs (so that the words a user says count too): Self-MHA (the
# talk's best, served by the app) and Cross-MHA under cross/ (notebook 03 compares their attention).
# About 1.5 hours on a 2-core CPU. Usage: bash scripts/ssl_mha_runs.sh [DATA_DIR] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
RUNS=${2:-runs/ssl_mha}
OUT=checkpoints/ssl_mha
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 TQDM_DISABLE=1
mkdir -p "$RUNS" "$OUT/cv"

variant_options() {  # variant -> recipe options: <fusion>[_nosp|_cls]_<pairing>, or speech
  local v=$1 opts=""
  case $v in speech) echo "fusion=speech"; return ;; esac
  case $v in *_constructed) opts="pairing=constructed text_root=$DATA/goemotions" ;; esac
  case $v in *_nosp_*) opts="$opts pooling=mean" ;; *_cls_*) opts="$opts text_feature=cls" ;; esac
  echo "fusion=${v%%_*} $opts"
}
# the talk's main table first, then its ablations
VARIANTS="self_real cross_real self_constructed cross_constructed speech text_real text_constructed
self_nosp_constructed self_cls_constructed cross_nosp_constructed cross_cls_constructed
self_nosp_real self_cls_real cross_nosp_real cross_cls_real"

one_variant() {  # variant
  local opts="" o
  for o in $(variant_options "$1"); do opts="$opts --option $o"; done
  [ -s "$RUNS/$1.json" ] || $PY -m emodemo -v train ssl_mha --root "$DATA/ravdess_speech" --cv --no-final \
      $opts --results "$RUNS/$1.json" > "$RUNS/$1.log" 2>&1
  $PY -m emodemo merge "$RUNS/$1.json" --out "$OUT/cv/$1.json"
}
export -f one_variant variant_options
export DATA RUNS PY OUT

# fill the speech feature cache once, before two processes would both compute it
$PY -c "from emodemo import data; from emodemo.recipes import frozen_states as f; \
f.speech_of_samples(data.load('ravdess', '$DATA/ravdess_speech'), top_layers=f.ALL_LAYERS)"
echo $VARIANTS | tr ' ' '\n' | xargs -P 2 -n 1 bash -c 'one_variant "$0"'
for fusion in self cross; do
  out=$OUT; [ $fusion = self ] || out=$OUT/$fusion
  $PY -m emodemo -v train ssl_mha --root "$DATA/ravdess_speech" --out "$out" --results "$RUNS/final_$fusion.json" \
      --option fusion=$fusion --option pairing=constructed --option text_root="$DATA/goemotions" \
      --option cv_from="$OUT/cv/${fusion}_constructed.json"
done
# the word-piece branch alone on the text benchmarks (official splits, test scored once)
for bench in goemotions meld; do
  root=$DATA/goemotions; [ $bench = meld ] && root=$DATA/meld_text
  $PY -m emodemo -v train ssl_mha --dataset $bench --root "$root" --no-final --option fusion=text \
      --results "$OUT/cv/text_$bench.json"
done
