#!/usr/bin/env bash
# Every measured run of the app's words expert (words_minilm), as committed under checkpoints/words_minilm/:
# the variants (MiniLM layers fine-tuned, GoEmotions share, class weights, lr), each trained on MELD train less
# 10 % of its dialogues and scored on those held-out dialogues only (RUNS/<variant>.json, one thread each);
# the variant with the best held-out weighted F1 becomes the checkpoint, and only it is scored on MELD dev and
# GoEmotions Ekman test, once. choice.json keeps every variant's held-out scores. Idempotent: a variant whose
# results file exists is not run again, so two shells can share the variants (VARIANTS="..." bash ...).
# About 45 minutes on a quiet 2-core CPU (the MiniLM states: ~10 min, once; top1: ~15 min).
# Usage: bash scripts/words_minilm_runs.sh [DATA_DIR] [RUN_DIR]; CHOOSE=0 skips the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets}
RUNS=${2:-runs/words_minilm}
OUT=checkpoints/words_minilm
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 TQDM_DISABLE=1
mkdir -p "$RUNS"

variant_options() {  # variant -> recipe options (and epochs)
  local goemotions="goemotions_root=$DATA/goemotions"
  case $1 in
    head) echo "--epochs 6 --option top_layers=0 --option lr=1e-3 --option $goemotions" ;;
    head_meld_only) echo "--epochs 6 --option top_layers=0 --option lr=1e-3" ;;
    head_balanced) echo "--epochs 6 --option top_layers=0 --option lr=1e-3 --option class_weights=balanced --option $goemotions" ;;
    top1_meld_only) echo "--epochs 3 --option top_layers=1" ;;
    top1) echo "--epochs 3 --option top_layers=1 --option $goemotions" ;;
  esac
}
VARIANTS=${VARIANTS:-"head head_meld_only head_balanced top1_meld_only top1"}

for variant in $VARIANTS; do
  [ -f "$RUNS/$variant.json" ] && continue
  # shellcheck disable=SC2046
  $PY -m emodemo -v train words_minilm --dataset meld --root "$DATA/meld_text" --out "$RUNS/$variant" \
      --results "$RUNS/$variant.partial.json" $(variant_options "$variant")
  mv "$RUNS/$variant.partial.json" "$RUNS/$variant.json"
done

[ "${CHOOSE:-1}" = 1 ] || exit 0
$PY - "$RUNS" "$OUT" "$DATA" <<'EOF'
import json, shutil, sys
from pathlib import Path
from emodemo.recipes.words_minilm import score_once
runs, out, data = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
results = {p.stem: json.loads(p.read_text()) for p in sorted(runs.glob("*.json")) if not p.stem.endswith(".partial")}
chosen = max(results, key=lambda v: results[v]["validation"]["WF1"])
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(runs / chosen, out)
metrics = score_once(out, data / "meld_text", data / "goemotions")
choice = {"protocol": metrics["protocol"], "chosen": chosen, "by": "held-out MELD train dialogues, weighted F1",
          "variants": {v: {"settings": r["settings"], "best_epoch": r["best_epoch"], "train_seconds": r["train_seconds"],
                           **{k: r["validation"][k] for k in ("WA", "UA", "WF1", "UF1")}} for v, r in results.items()}}
(out / "choice.json").write_text(json.dumps(choice, indent=1) + "\n")
for v, r in choice["variants"].items():
    print(f"{v:16s} held-out WA {r['WA']:.3f} UA {r['UA']:.3f} WF1 {r['WF1']:.3f} UF1 {r['UF1']:.3f} ({r['train_seconds'] / 60:.1f} min)")
t = metrics["test"]
print(f"chosen {chosen}: MELD dev WA {t['WA']:.3f} UA {t['UA']:.3f} WF1 {t['WF1']:.3f} UF1 {t['UF1']:.3f}")
EOF
