#!/usr/bin/env bash
# Every measured run of talk 004's models (mesm), as committed under checkpoints/mesm/: 14 RAVDESS
# variants x 5 folds by actor (one process per variant, seed = fold index), in two queues of one
# thread each, written to cv/<variant>.json with the chance row and the paper's per-emotion scores;
# and the final MESM (p = 0.7, text + audio) on mixed pairs (each clip once with a GoEmotions line,
# once with its own words), served by the app, whose card then reports the mixed-pairs
# cross-validation. About 3 hours on a 2-core CPU (the clips are transcribed first, ~10 minutes).
# Usage: bash scripts/mesm_runs.sh [DATA_DIR] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
RUNS=${2:-runs/mesm}
OUT=checkpoints/mesm
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 TQDM_DISABLE=1
mkdir -p "$RUNS" "$OUT/cv"

variant_options() {  # mesm_pN_<mods>[_<pairing>] or fe2e_<mods>[_<pairing>] -> recipe options
  local parts opts
  IFS=_ read -r -a parts <<< "$1"
  if [ "${parts[0]}" = mesm ]; then
    opts="sparse=true top_p=0.${parts[1]#p}"; parts=("${parts[@]:2}")
  else
    opts="sparse=false"; parts=("${parts[@]:1}")
  fi
  opts="$opts modalities=${parts[0]^^}"
  case "${parts[1]:-}" in
    constructed|mixed) opts="$opts pairing=${parts[1]} text_root=$DATA/goemotions";;
  esac
  echo "$opts"
}

one_variant() {  # variant
  local opts="" o
  for o in $(variant_options "$1"); do opts="$opts --option $o"; done
  [ -s "$RUNS/$1.json" ] || $PY -m emodemo -v train mesm --root "$DATA/ravdess_speech" --cv --no-final \
      $opts --results "$RUNS/$1.json" > "$RUNS/$1.log" 2>&1
  cp "$RUNS/$1.json" "$OUT/cv/$1.json"
}

# fill the log-mel chunk and transcript caches once, before two processes would both compute them
$PY -c "from emodemo import data; from emodemo.recipes import mesm; from emodemo.speech import transcribe_samples; \
clips = data.load('ravdess', '$DATA/ravdess_speech'); mesm.chunks_of_samples(clips); transcribe_samples(clips)"
(for v in mesm_p7_ta_constructed fe2e_ta_constructed fe2e_a fe2e_t_constructed mesm_p5_ta_constructed \
          fe2e_t_real mesm_p3_ta_real mesm_p9_ta_real mesm_p5_ta_real; do
   one_variant $v; done) &
(for v in mesm_p7_ta_real fe2e_ta_real mesm_p3_ta_constructed mesm_p9_ta_constructed; do
   one_variant $v; done
 [ -s "$RUNS/final.json" ] || $PY -m emodemo -v train mesm --root "$DATA/ravdess_speech" --out "$OUT" \
    --results "$RUNS/final.json" --option sparse=true --option top_p=0.7 --option modalities=TA \
    --option pairing=mixed --option text_root="$DATA/goemotions" > "$RUNS/final.log" 2>&1
 for v in mesm_p7_ta_mixed fe2e_ta_mixed; do one_variant $v; done) &
wait
# the final model was trained before its variant's cross-validation: add it to the card
$PY -c "from emodemo.training import attach_cross_validation; \
attach_cross_validation('$OUT', '$OUT/cv/mesm_p7_ta_mixed.json')"
# FE2E's text side alone on the text benchmarks (official splits, test scored once)
for bench in goemotions meld; do
  root=$DATA/goemotions; [ $bench = meld ] && root=$DATA/meld_text
  $PY -m emodemo -v train mesm --dataset $bench --root "$root" --no-final --option modalities=T \
      --results "$OUT/cv/fe2e_t_$bench.json"
done
