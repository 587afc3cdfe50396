#!/usr/bin/env bash
# Every measured run of talk 001's model (coattention), as committed under checkpoints/coattention/:
# RAVDESS variants x 5 folds by actor (each fold its own process, seed = fold index; JOBS at a time, default
# two, one thread each), staged (head -> top encoder layer -> top two on real pairs, and head -> every encoder
# layer; elsewhere it stops after the top layer, for CPU time), merged per variant into cv/<variant>.json
# (mixed pairs: each half of the test clips scored apart too); the text side on GoEmotions and MELD; the
# final checkpoint the app serves: fusion on mixed pairs (each clip once with a GoEmotions line of its
# emotion, once with its own Whisper words, which is what the app gives it) of normalised clips
# (emodemo.inputs.normalise), its head alone on the frozen encoders' last states (a top-layer stage costs about
# ten times the CPU time), calibrated on its validation actors' real pairs, its card reporting the
# mixed-pairs cross-validation.
# About 3.5 hours on a 2-core CPU (the clips are transcribed first, ~10 minutes).
# Usage: bash scripts/coattention_runs.sh [DATA_DIR] [RUN_DIR] [all|served]
#   served: only what the served checkpoint needs (the mixed-pairs cross-validation and the final model)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
RUNS=${2:-runs/coattention}
WHICH=${3:-all}
OUT=checkpoints/coattention
PY=${PY:-.venv/bin/python}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=1
mkdir -p "$RUNS" "$OUT/cv"

variant_options() {  # variant -> recipe options
  local constructed="pairing=constructed text_root=$DATA/goemotions" mixed="pairing=mixed text_root=$DATA/goemotions"
  case $1 in
    fusion_real) echo "" ;;
    fusion_real_all) echo "stages=head,all" ;;
    fusion_constructed) echo "stages=head,top1 $constructed" ;;
    fusion_mixed) echo "stages=head normalise=1 $mixed" ;;
    speech) echo "mode=speech stages=head,top1" ;;
    text_real) echo "mode=text" ;;
    text_constructed) echo "mode=text $constructed" ;;
    fusion_real_ce) echo "loss=ce stages=head" ;;
    fusion_constructed_ce) echo "loss=ce stages=head $constructed" ;;
  esac
}
VARIANTS="fusion_mixed fusion_real fusion_real_all fusion_constructed speech text_real text_constructed fusion_real_ce
fusion_constructed_ce"
TOPS="0 1 2 6"    # the encoder layers the variants' stages fine-tune
[ "$WHICH" = served ] && VARIANTS=fusion_mixed TOPS=0

one_fold() {  # variant fold
  local opts="" o
  for o in $(variant_options "$1"); do opts="$opts --option $o"; done
  [ -s "$RUNS/$1_f$2.json" ] || $PY -m emodemo -v train coattention --root "$DATA/ravdess_speech" --cv --no-final \
      --folds "$2" --seed "$2" $opts --results "$RUNS/$1_f$2.json" > "$RUNS/$1_f$2.log" 2>&1
}
export -f one_fold variant_options
export DATA RUNS PY

# fill the transcript and speech feature caches once, before two processes would both compute them
for top in $TOPS; do $PY -c "from emodemo import data; from emodemo.recipes import frozen_states as f; \
from emodemo.speech import transcribe_samples; clips = data.load('ravdess', '$DATA/ravdess_speech'); \
transcribe_samples(clips); f.speech_of_samples(clips, top_layers=$top); \
($top == 0) and f.speech_of_samples(clips, top_layers=0, normalised=True)"; done   # fusion_mixed reads normalised clips
for v in $VARIANTS; do for f in 0 1 2 3 4; do echo "$v $f"; done; done | xargs -P "$JOBS" -n 2 bash -c 'one_fold "$0" "$1"'
for v in $VARIANTS; do $PY -m emodemo merge "$RUNS/${v}"_f?.json --out "$OUT/cv/$v.json"; done
if [ "$WHICH" = all ]; then
  $PY -m emodemo -v train coattention --dataset goemotions --root "$DATA/goemotions" --no-final \
      --option mode=text --option stages=head --results "$OUT/cv/text_goemotions.json"
  $PY -m emodemo -v train coattention --dataset meld --root "$DATA/meld_text" --no-final \
      --option mode=text --option stages=head --results "$OUT/cv/text_meld.json"
fi
[ -s "$RUNS/final.json" ] || $PY -m emodemo -v train coattention --root "$DATA/ravdess_speech" --out "$OUT" \
    --results "$RUNS/final.json" --option pairing=mixed --option text_root="$DATA/goemotions" \
    --option stages=head --option normalise=1 > "$RUNS/final.log" 2>&1
# the final model was trained apart from its variant's cross-validation: add it to the card
$PY -c "from emodemo.training import attach_cross_validation; \
attach_cross_validation('$OUT', '$OUT/cv/fusion_mixed.json')"
