"""What users pick today, timed beside us: the most used single-model speech-emotion pipeline on the
Hub is a wav2vec2-large (XLSR) audio classifier run through ``transformers``' audio-classification
pipeline. Its weights cannot be had offline, so its architecture is built with random weights
(the cost does not depend on them) and timed on the same real clips as our models.

Protocol
--------
* Model: ``Wav2Vec2ForSequenceClassification`` with the XLSR-53 large configuration (24 layers,
  1024 wide, 16 heads, layer-norm feature encoder, stable layer norm), 8 classes, random weights;
  through ``transformers.pipeline("audio-classification")`` with a 16 kHz feature extractor that
  normalises the wave, as the Hub model card runs it.
* Clips: 8 real RAVDESS clips cut or padded to 4.0 s; batch 1 (each clip alone, median of 5 after
  a warm-up) and batch 8 (the 8 clips in one call, median of 3).
* Threads: one, like ``bench/mesm.py`` and the other model benches; and the machine's default.
* Also: parameters, and the fp32 size the weights would have.

Usage::

    python bench/hub_baseline.py --root ../shared/datasets/ravdess_speech

Writes ``bench/results/hub_baseline.json`` and prints a table. Run it on a quiet machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from timing import arguments, exactly, machine, median_ms, real_clips, save_and_print  # noqa: E402

CLIP_SECONDS = 4.0
XLSR_LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
    conv_bias=True,
    num_labels=8,
)


def hub_pipeline():
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification, pipeline

    torch.manual_seed(0)
    model = Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**XLSR_LARGE)).eval()
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    return pipeline("audio-classification", model=model, feature_extractor=extractor, device=-1), model


def main() -> None:
    args = arguments(__doc__, "hub_baseline")
    waves = [exactly(wave, CLIP_SECONDS) for wave, _ in real_clips(args.root, 8)]
    classify, model = hub_pipeline()
    inputs = [{"raw": wave, "sampling_rate": 16000} for wave in waves]
    rows = []
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            one = median_ms(lambda: classify(dict(inputs[0]), top_k=8), 5, warmup=1)
            eight = median_ms(lambda: classify([dict(x) for x in inputs], batch_size=8, top_k=8), 3, warmup=1) / 8
        rows.append(
            {
                "variant": f"wav2vec2-large XLSR, {threads} thread(s)",
                "ms_per_clip_batch1": one,
                "ms_per_clip_batch8": eight,
            }
        )
    parameters = sum(p.numel() for p in model.parameters())
    result = {
        "machine": machine(),
        "clip_seconds": CLIP_SECONDS,
        "parameters": parameters,
        "fp32_megabytes": parameters * 4 / 1e6,
        "weights": "random (architecture only; the Hub weights are not available offline)",
        "rows": rows,
    }
    save_and_print(result, args.out)
    print(f"{parameters / 1e6:.0f} M parameters, {parameters * 4 / 1e6:.0f} MB in fp32")


if __name__ == "__main__":
    main()
