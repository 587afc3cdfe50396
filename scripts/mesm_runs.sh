#!/usr/bin/env bash
# Every measured run of talk 004's models (mesm), as committed under checkpoints/mesm/: 10 RAVDESS
# variants x 5 folds by actor (one process per variant, seed = fold index), in two queues of one
# thread each, written to cv/<variant>.json with the chance row and the paper's per-emotion scores;
# then the final MESM (p = 0.7, text + audio) on constructed GoEmotions pairs, served by the app.
# About 1.5 hours on a 2-core CPU (the first real-pairs run transcribes 1,200 clips, ~15 minutes).
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
  [ "${parts[1]:-}" != constructed ] || opts="$opts pairing=constructed text_root=$DATA/goemotions"
  echo "$opts"
}

one_variant() {  # variant
  local opts="" o
  for o in $(variant_options "$1"); do opts="$opts --option $o"; done
  [ -s "$RUNS/$1.json" ] || $PY -m emodemo -v train mesm --root "$DATA/ravdess_speech" --cv --no-final \
      $opts --results "$RUNS/$1.json" > "$RUNS/$1.log" 2>&1
  cp "$RUNS/$1.json" "$OUT/cv/$1.json"
}

# fill the log-mel chunk cache once, before two processes would both compute it
$PY -c "from emodemo import data; from emodemo.recipes import mesm; \
mesm.chunks_of_samples(data.load('ravdess', '$DATA/ravdess_speech'))"
(for v in mesm_p7_ta_constructed fe2e_ta_constructed fe2e_a fe2e_t_constructed mesm_p5_ta_constructed; do
   one_variant $v; done) &
(for v in mesm_p7_ta_real fe2e_ta_real fe2e_t_real mesm_p3_ta_constructed mesm_p9_ta_constructed; do
   one_variant $v; done) &
wait
$PY -m emodemo -v train mesm --root "$DATA/ravdess_speech" --out "$OUT" --results "$RUNS/final.json" \
    --option sparse=true --option top_p=0.7 --option modalities=TA --option pairing=constructed \
    --option text_root="$DATA/goemotions"
