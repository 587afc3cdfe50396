#!/usr/bin/env bash
# Every measured run of talk 002's models (ssl_mha), as committed under checkpoints/ssl_mha/:
# 17 RAVDESS variants x 5 folds by actor (one process per variant, seed = fold index; JOBS at a time,
# default two, one thread each), written to cv/<variant>.json with the chance row of the same folds (mixed
# pairs: each half of the test clips scored apart too); then the final checkpoints the app serves, on mixed
# pairs (each clip once with a GoEmotions line of its emotion, once with its own Whisper words, which is
# what the app gives them) of normalised clips (emodemo.inputs.normalise), calibrated on their validation actors'
# real pairs, their cards reporting the mixed-pairs cross-validation: Self-MHA (the talk's best) and Cross-MHA under cross/ (notebook 03 compares
# their attention). About 2.5 hours on a 2-core CPU (the clips are transcribed first, ~10 minutes).
# Usage: bash scripts/ssl_mha_runs.sh [DATA_DIR] [RUN_DIR] [all|served]
#   served: only what the served checkpoints need (the mixed-pairs cross-validations and the final models)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
RUNS=${2:-runs/ssl_mha}
WHICH=${3:-all}
OUT=checkpoints/ssl_mha
PY=${PY:-.venv/bin/python}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=1 TQDM_DISABLE=1
mkdir -p "$RUNS" "$OUT/cv"

variant_options() {  # variant -> recipe options: <fusion>[_nosp|_cls]_<pairing>, or speech
  local v=$1 opts=""
  case $v in speech) echo "fusion=speech"; return ;; esac
  case $v in *_constructed) opts="pairing=constructed text_root=$DATA/goemotions" ;; esac
  case $v in *_mixed) opts="pairing=mixed normalise=1 text_root=$DATA/goemotions" ;; esac   # the served ones
  case $v in *_nosp_*) opts="$opts pooling=mean" ;; *_cls_*) opts="$opts text_feature=cls" ;; esac
  echo "fusion=${v%%_*} $opts"
}
# the served models' variants, the talk's main table, then its ablations
VARIANTS="self_mixed cross_mixed self_real cross_real self_constructed cross_constructed speech text_real
text_constructed self_nosp_constructed self_cls_constructed cross_nosp_constructed cross_cls_constructed
self_nosp_real self_cls_real cross_nosp_real cross_cls_real"
[ "$WHICH" = served ] && VARIANTS="self_mixed cross_mixed"

one_variant() {  # variant
  local opts="" o
  for o in $(variant_options "$1"); do opts="$opts --option $o"; done
  [ -s "$RUNS/$1.json" ] || $PY -m emodemo -v train ssl_mha --root "$DATA/ravdess_speech" --cv --no-final \
      $opts --results "$RUNS/$1.json" > "$RUNS/$1.log" 2>&1
  $PY -m emodemo merge "$RUNS/$1.json" --out "$OUT/cv/$1.json"
}
export -f one_variant variant_options
export DATA RUNS PY OUT

# fill the transcript and speech feature caches once, before two processes would both compute them
$PY -c "from emodemo import data; from emodemo.recipes import frozen_states as f; \
from emodemo.speech import transcribe_samples; clips = data.load('ravdess', '$DATA/ravdess_speech'); \
transcribe_samples(clips); f.speech_of_samples(clips, top_layers=f.ALL_LAYERS); \
f.speech_of_samples(clips, top_layers=f.ALL_LAYERS, normalised=True)"
echo $VARIANTS | tr ' ' '\n' | xargs -P "$JOBS" -n 1 bash -c 'one_variant "$0"'
for fusion in self cross; do
  out=$OUT; [ $fusion = self ] || out=$OUT/$fusion
  [ -s "$RUNS/final_$fusion.json" ] || $PY -m emodemo -v train ssl_mha --root "$DATA/ravdess_speech" --out "$out" \
      --results "$RUNS/final_$fusion.json" --option fusion=$fusion --option pairing=mixed \
      --option text_root="$DATA/goemotions" --option normalise=1 --option cv_from="$OUT/cv/${fusion}_mixed.json" \
      > "$RUNS/final_$fusion.log" 2>&1
done
[ "$WHICH" = all ] || exit 0
# the word-piece branch alone on the text benchmarks (official splits, test scored once)
for bench in goemotions meld; do
  root=$DATA/goemotions; [ $bench = meld ] && root=$DATA/meld_text
  $PY -m emodemo -v train ssl_mha --dataset $bench --root "$root" --no-final --option fusion=text \
      --results "$OUT/cv/text_$bench.json"
done
