#!/usr/bin/env bash
# The app's example clips (examples/*.wav), made by the project with Debian's espeak-ng speech
# synthesiser: a flat synthetic voice saying emotional words (the voice models hear no emotion in
# it, the words models do), and German (the app notes that its words may not be English).
# Usage: bash scripts/make_examples.sh   (needs espeak-ng and ffmpeg)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p examples
say() {  # name voice text
  espeak-ng -v "$2" -s 150 "$3" -w "examples/$1.raw.wav"
  ffmpeg -nostdin -v error -y -i "examples/$1.raw.wav" -ar 16000 -ac 1 "examples/$1.wav"
  rm "examples/$1.raw.wav"
}
say happy_words en "I just got the job! This is the best day of my life, I am so happy."
say angry_words en "Stop it right now. I told you a hundred times and you never listen to me."
say sad_words en "She is gone, and nothing will ever be the same again. I miss her so much."
say german de "Ich habe heute den ganzen Tag auf dich gewartet, und du bist nicht gekommen."
