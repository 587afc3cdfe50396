#!/usr/bin/env bash
# `make space-check`: install requirements.txt alone into a fresh virtual environment, as a Hugging
# Face Space does, then start `python app.py` from it and have it answer one real clip
# (scripts/space_probe.py). What it cannot prove: pip finds the local CPU torch wheel here, where a
# GPU Space downloads the CUDA build; the Debian packages of packages.txt come from this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SPACE_VENV=${SPACE_VENV:-${TMPDIR:-/tmp}/emodemo-space-check}
start=$(date +%s)
missing=$(while read -r pkg; do [ -z "$pkg" ] || command -v "$pkg" >/dev/null || echo "$pkg"; done < packages.txt)
[ -z "$missing" ] || { echo "space-check: packages.txt names $missing, not installed here" >&2; exit 1; }
rm -rf "$SPACE_VENV"
"$PYTHON" -m venv "$SPACE_VENV"
# pip's own cache and configured wheel folders make a second run fast; nothing else is reused.
"$SPACE_VENV/bin/python" -m pip install --disable-pip-version-check -q --no-compile -r requirements.txt
echo "space-check: requirements.txt installed in $(( $(date +%s) - start )) s"
"$SPACE_VENV/bin/python" scripts/space_probe.py
echo "space-check: passed in $(( $(date +%s) - start )) s (the environment stays in $SPACE_VENV until the next run)"
