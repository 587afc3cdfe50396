#!/usr/bin/env bash
# Creates .venv and installs everything emodemo needs; idempotent (make runs it once per change
# of requirements.txt). System packages come from apt-get when we are root; otherwise we print the
# exact command and stop.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SYSTEM_PACKAGES=(ffmpeg)          # decoding of mp3/m4a/webm/mp4 and openai-whisper's loader
# make test: a browser for the app's end-to-end test, a speech synthesiser for non-English clips
[ "${WITH_TEST_TOOLS:-0}" = 1 ] && SYSTEM_PACKAGES+=(chromium espeak-ng)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Debian's python3 ships without venv/ensurepip until python3-venv is installed.
"$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=("python3-venv")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)

# torch first, so that nothing later pulls the multi-GB CUDA build on a CPU machine.
TORCH=$(grep -E '^torch==' requirements.txt)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  # A local CPU wheel (pip's find-links) wins; torch's own small dependencies come with the rest.
  if "${PIP[@]}" --no-index --no-deps "$TORCH" >/dev/null 2>&1; then
    echo "setup: $TORCH from a local wheel"
  elif command -v nvidia-smi >/dev/null 2>&1; then
    echo "setup: $TORCH (CUDA build, a GPU is present)"; "${PIP[@]}" "$TORCH"
  else
    echo "setup: $TORCH (CPU build)"
    "${PIP[@]}" --retries 1 --timeout 30 "$TORCH" \
      --extra-index-url https://download.pytorch.org/whl/cpu
  fi
fi
echo "setup: installing requirements.txt and requirements-dev.txt into .venv (first run takes a few minutes)"
# openai-whisper lists triton (a GPU compiler, ~150 MB) for Linux, needed on CUDA only: here it comes
# without dependencies (they are pinned in requirements.txt); a Space installs requirements.txt as it is.
WHISPER=$(grep -E '^openai-whisper==' requirements.txt)
"${PIP[@]}" -r <(grep -vE '^openai-whisper==' requirements.txt) -r requirements-dev.txt
"${PIP[@]}" --no-deps "$WHISPER"
echo "setup: done"
