"""How a head reads Whisper base's frames decides what carries to new voices (issue 20).

Every head trained on RAVDESS over Whisper base's lower-layer frames (co-attention, the Self-MHA pair,
``nmt_attention`` on those states) answers "disgust" to a large share of TESS, while the speech probe, which
reads the same layers' statistics over the whole clip, does so least. This bench asks which part of a head
does it, with the voice alone, on the very states those models read (the feature cache of
:func:`emodemo.recipes.frozen_states.speech_of_samples`: Whisper base's layers 0-3 of the normalised clip,
the noise gate of the served models). Every variant mixes the 4 layers by learned weights (each layer
normalised first), then:

- ``attention``: each frame projected (``tanh(W x)``, 128 units), attention-pooled by a learned query: what
  ``nmt_attention``'s words do over the sound, and what its no-words input does;
- ``frame statistics``: the same projected frames, their mean and standard deviation over the clip;
- ``statistics``: the mixed frames' own mean and standard deviation (the speech probe's statistics), layer
  normalised, through a 128-unit layer;
- ``attention + statistics``: both, side by side (``nmt_attention --option speech_summary=1`` in small);
- ``attention, per-utterance normalised``: each feature's mean and deviation over the clip removed first
  (cepstral mean and variance normalisation, on encoder states);
- ``attention, 1-2 s crops``: trained on a random 50-110 frame stretch of each clip (TESS's carrier phrases
  are 1.2-2.1 s, RAVDESS's sentences 1.6-2.9 s);
- ``attention, tempo copies`` and ``statistics, tempo copies``: each training clip also once more at another
  tempo (audiomentations' time stretch, rate drawn from 0.75-1.33, seeded by the clip), so that how fast the
  words come cannot tell the emotion: RAVDESS's "disgust" takes are its slowest (median 2.3 s against 1.8-2.1 s
  for the other emotions), and TESS's carrier phrases are spoken slowly;
- ``attention, pitch copies`` and ``statistics, pitch copies``: each training clip also once more shifted in
  pitch (the recipes' ``pitch_copies``: audiomentations' pitch shift, which moves the formants with it, by -4 to
  +4 semitones, seeded by the clip),
  so that how high or low a voice sits cannot tell the emotion: played 4 semitones higher, TESS's older speaker
  (OAF, whose clips get most of the "disgust" answers) is called "disgust" far less, and 2 semitones lower, more;
- ``attention, duration-balanced`` and ``statistics, duration-balanced``: each training clip's loss weighted so
  that, within each fifth of the voiced lengths, every emotion weighs as in the whole set: how long a take is
  (with RAVDESS's two sentences, how fast it is spoken) then tells nothing of the emotion.

Protocol: RAVDESS actors 01-20, 7 classes (calm counted as neutral), the committed 5 folds by actor (14 train /
2 validation / 4 test actors), seeds 0 and 1 by default (seed = fold index + 100 x seed; the table says how many
each row has), AdamW 1e-3, batch 32, 25 epochs,
the epoch with the best validation UA. Scored: UA on each fold's test actors (mean over folds); TESS's
**choose half** (350 clips, 2 speakers, never trained on): each fold model's UA and collapse (the share of
clips given its most frequent answer), averaged over folds, and the UA and collapse of the 5 fold models'
mean softmax (uncalibrated), each averaged over the seeds. The TESS report half is not touched.

    python bench/frame_heads.py --root ../shared/datasets/ravdess_speech --tess ../shared/datasets/tess \\
        [--variant attention --variant statistics ...] [--seeds 0 1]

``--voices``: which of TESS's two speakers the fold-0 models (seed 0) of the plain and pitch-copy attention heads call
"disgust", and how that moves when the clips are played higher or lower (audiomentations' pitch shift by +4, +2 or
-2 semitones) or brighter or duller (a high shelf of +8 or -8 dB at 2 kHz): ``bench/results/frame_heads_voices.json``.

Each (variant, seed) is kept in ``bench/results/frame_heads/`` as it finishes, so several processes can run
other variants at once; the table of every row there is written to ``bench/results/frame_heads.json`` and
printed (about 5 minutes a variant and seed on one core once the states are cached).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from timing import save_and_print  # noqa: E402

from emodemo import data  # noqa: E402
from emodemo.core import CANONICAL7, to_canonical  # noqa: E402
from emodemo.data.splits import load_splits  # noqa: E402
from emodemo.inputs import audio, augment, normalise  # noqa: E402
from emodemo.models.layers import LayerMix, masked_mean_std  # noqa: E402
from emodemo.recipes import frozen_states  # noqa: E402
from emodemo.recipes.training_copies import with_copies  # noqa: E402
from emodemo.serving import evaluation  # noqa: E402

RESULTS = REPO / "bench" / "results" / "frame_heads"
# the states the served Whisper base voice + words models read: layers 0-3 of the normalised clip, the noise gate
STATES = dict(encoder="whisper-base", top_layers=3, normalised=True, deepest=3, denoise_below_db=30.0)
STEADY_FLOOR_DB = 5.0
VARIANTS = {
    "attention": "attention",
    "frame statistics": "frame_stats",
    "statistics": "stats",
    "attention + statistics": "attention+stats",
    "attention, per-utterance normalised": "attention_cmvn",
    "attention, 1-2 s crops": "attention_crops",
    "attention, tempo copies": "attention_tempo",
    "statistics, tempo copies": "stats_tempo",
    "attention, pitch copies": "attention_pitch",
    "statistics, pitch copies": "stats_pitch",
    "attention, duration-balanced": "attention_balanced",
    "statistics, duration-balanced": "stats_balanced",
}
DURATION_BINS = 5  # quantile bins of the voiced length, within each fold's training clips
TEMPO = (0.75, 1.33)  # the rates a tempo copy is drawn from
COPIES = ("_tempo", "_pitch")  # the variants trained on their clips and one changed copy of each
EPOCHS, BATCH, HIDDEN = 25, 32, 128


class FrameHead(nn.Module):
    """``states [B, 4, T, D]``, ``mask [B, T]`` -> logits ``[B, 7]`` by the variant's way of reading the frames."""

    def __init__(self, kind: str, dim: int, n_classes: int = len(CANONICAL7), dropout: float = 0.3):
        super().__init__()
        # changed copies and duration weights change the training data, not the head
        self.kind = kind.removesuffix("_tempo").removesuffix("_pitch").removesuffix("_balanced")
        self.mix = LayerMix(4)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(dim, HIDDEN)
        self.query = nn.Linear(HIDDEN, 1)
        self.frame_stats = nn.Linear(2 * HIDDEN, HIDDEN)
        self.stats = nn.Sequential(nn.LayerNorm(2 * dim), nn.Dropout(dropout), nn.Linear(2 * dim, HIDDEN), nn.GELU())
        self.out = nn.Linear(2 * HIDDEN if self.kind == "attention+stats" else HIDDEN, n_classes)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.mix.normalised(states)  # [B, T, D]
        if self.kind == "attention_cmvn":  # each feature's mean and deviation over the clip's frames removed
            x = x - masked_mean_std(x, mask)[:, None, : x.shape[-1]]
            x = x / (masked_mean_std(x, mask)[:, None, x.shape[-1] :] + 1e-4) * mask[..., None]
        if self.kind == "stats":
            return self.out(self.stats(masked_mean_std(x, mask)))  # [B, 2D] -> [B, C]
        h = torch.tanh(self.project(self.dropout(x)))  # [B, T, H]
        if self.kind == "frame_stats":
            return self.out(self.dropout(self.frame_stats(masked_mean_std(h, mask))))
        weights = self.query(h).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(dim=-1)  # [B, T]
        pooled = torch.einsum("bt,bth->bh", weights, h)  # [B, H]
        if self.kind == "attention+stats":
            pooled = torch.cat([pooled, self.stats(masked_mean_std(x, mask))], dim=-1)  # [B, 2H]
        return self.out(self.dropout(pooled))


def padded(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[(states [4, T_i, D], class)]`` -> states ``[B, 4, T, D]``, mask ``[B, T]``, classes ``[B]``."""
    longest = max(x.shape[1] for x, _ in items)
    states = torch.zeros(len(items), items[0][0].shape[0], longest, items[0][0].shape[2])
    mask = torch.zeros(len(items), longest, dtype=torch.bool)
    for i, (x, _) in enumerate(items):
        states[i, :, : x.shape[1]] = x.float()
        mask[i, : x.shape[1]] = True
    return states, mask, torch.tensor([y for _, y in items])


def cropped(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A random stretch of 50-110 frames (1-2.2 s) of ``x [4, T, D]``, or all of it when shorter."""
    width = int(rng.integers(50, 111))
    if x.shape[1] <= width:
        return x
    start = int(rng.integers(0, x.shape[1] - width + 1))
    return x[:, start : start + width]


def probabilities(model: FrameHead, items: list) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        parts = [torch.softmax(model(*padded(items[i : i + 64])[:2]), dim=-1) for i in range(0, len(items), 64)]
    return torch.cat(parts).numpy()  # [N, C]


def scores(true: np.ndarray, answers: np.ndarray) -> dict:
    """UA, collapse and the most frequent answer of class ids ``[N]`` (:func:`evaluation.scores_with_collapse`)."""
    names = lambda ids: [CANONICAL7[int(i)] for i in ids]  # noqa: E731
    return evaluation.scores_with_collapse(names(true), names(answers), list(CANONICAL7))


def duration_weights(items: list) -> torch.Tensor:
    """A weight per training clip ``[N]`` (mean 1) that makes the emotion independent of the voiced length: clips
    in ``DURATION_BINS`` quantile bins of their frame count, each weighted P(bin) / P(bin | emotion), so that in
    every bin each emotion weighs as much as in the whole set. RAVDESS's actors say one of two sentences of the
    same length, so its voiced length is its speaking rate."""
    frames = np.array([x.shape[1] for x, _ in items])
    classes = np.array([y for _, y in items])
    edges = np.quantile(frames, np.linspace(0, 1, DURATION_BINS + 1)[1:-1])
    bins = np.searchsorted(edges, frames, side="right")  # [N] in 0..DURATION_BINS-1
    joint = np.zeros((len(CANONICAL7), DURATION_BINS))
    np.add.at(joint, (classes, bins), 1.0)
    p_bin = joint.sum(axis=0) / len(items)  # [bins]
    p_bin_given_class = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1.0)  # [C, bins]
    weights = p_bin[bins] / np.maximum(p_bin_given_class[classes, bins], 1e-9)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


def fold_model(kind: str, train: list, val: list, seed: int) -> FrameHead:
    """Trained on ``train``, the epoch with the best UA on ``val`` kept."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = FrameHead(kind, train[0][0].shape[-1])
    weights = duration_weights(train) if kind.endswith("_balanced") else torch.ones(len(train))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    best, kept = -1.0, None
    for _ in range(EPOCHS):
        model.train()
        for batch in np.array_split(rng.permutation(len(train)), len(train) // BATCH):
            items = [train[i] for i in batch]
            if kind == "attention_crops":
                items = [(cropped(x, rng), y) for x, y in items]
            states, mask, classes = padded(items)
            loss = nn.functional.cross_entropy(model(states, mask), classes, reduction="none")  # [B]
            loss = (loss * weights[torch.as_tensor(batch)]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        score = scores(np.array([y for _, y in val]), probabilities(model, val).argmax(axis=1))["UA"]
        if score > best:
            best, kept = score, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(kept)
    return model


def changed_copies(samples: list, change: str) -> list[torch.Tensor]:
    """Each clip once more, changed, seeded by the clip: ``"_pitch"``, the recipes' pitch copy
    (``--option pitch_copies=1``: :mod:`emodemo.recipes.training_copies`, its states from the same feature cache and
    noise gate, which passes every RAVDESS copy); ``"_tempo"``, a random tempo. ``[4, T', D]`` each."""
    import random

    import audiomentations

    if change == "_pitch":
        made = with_copies(samples, 1, "pitch")[len(samples) :]
        return frozen_states.speech_of_samples(made, **STATES, steady_floor_below_db=STEADY_FLOOR_DB, progress=False)
    stretch = audiomentations.TimeStretch(min_rate=TEMPO[0], max_rate=TEMPO[1], leave_length_unchanged=False, p=1.0)
    waves = []
    for sample in samples:
        random.seed(augment.seed_of(sample.id, 1))
        np.random.seed(augment.seed_of(sample.id, 1))
        waves.append(stretch(samples=audio.load_audio(sample.audio, max_seconds=30.0), sample_rate=audio.SAMPLE_RATE))
    return heard_states(waves)


def heard_states(waves: list[np.ndarray]) -> list[torch.Tensor]:
    """The states of changed clips ``[S]`` as the served models hear them (normalised; without the noise gate,
    which passes every clean take): ``[4, T', D]`` each, encoded 16 at a time."""
    heard = [normalise.normalised_if(wave, True) for wave in waves]
    encoder, top, deepest = STATES["encoder"], STATES["top_layers"], STATES["deepest"]
    return [
        x
        for i in range(0, len(heard), 16)
        for x in frozen_states.speech_states(heard[i : i + 16], encoder, top, deepest)
    ]


def copies_of(kind: str) -> str | None:
    """Which changed copy a variant trains on too (one of :data:`COPIES`), or None."""
    return next((change for change in COPIES if kind.endswith(change)), None)


def run(name: str, seed: int, ravdess: list, tess: list, copies: dict | None = None) -> dict:
    """One variant's 5 fold models at one seed, scored; ``copies``: ``{change: {clip id: (its changed copy's
    states, class)}}``."""
    kind = VARIANTS[name]
    by_speaker = lambda speakers: [item for s, item in ravdess if s.speaker in speakers]  # noqa: E731
    change = copies_of(kind)
    changed = lambda speakers: [copies[change][s.id] for s, _ in ravdess if s.speaker in speakers]  # noqa: E731
    tess_true = np.array([y for _, y in tess])
    test_ua, tess_ua, tess_collapse, tess_probs = [], [], [], []
    for k, fold in enumerate(load_splits("ravdess_5fold_seed0.json")):
        train = by_speaker(fold.train) + (changed(fold.train) if change else [])
        model = fold_model(kind, train, by_speaker(fold.val), k + 100 * seed)
        test = by_speaker(fold.test)
        test_ua.append(scores(np.array([y for _, y in test]), probabilities(model, test).argmax(axis=1))["UA"])
        tess_probs.append(probabilities(model, tess))
        on_tess = scores(tess_true, tess_probs[-1].argmax(axis=1))
        tess_ua.append(on_tess["UA"])
        tess_collapse.append(on_tess["collapse"])
        print(f"{name}, seed {seed}, fold {k}: test UA {test_ua[-1]:.3f}, TESS {tess_ua[-1]:.3f}", flush=True)
    mean = scores(tess_true, np.mean(tess_probs, axis=0).argmax(axis=1))
    return {
        "variant": name,
        "seed": seed,
        "RAVDESS test UA": float(np.mean(test_ua)),
        "TESS UA, fold models": float(np.mean(tess_ua)),
        "TESS collapse, fold models": float(np.mean(tess_collapse)),
        "TESS UA, fold mean": mean["UA"],
        "TESS collapse, fold mean": mean["collapse"],
        "fold mean's most frequent answer": mean["most_frequent_answer"],
    }


def table() -> dict:
    """Every kept (variant, seed) row, averaged over seeds per variant."""
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    out = []
    for name in VARIANTS:
        mine = [r for r in rows if r["variant"] == name]
        if not mine:
            continue
        numbers = [k for k, v in mine[0].items() if isinstance(v, float)]
        out.append(
            {
                "variant": name,
                "seeds": len(mine),
                **{k: float(np.mean([r[k] for r in mine])) for k in numbers},
                "most frequent": "/".join(sorted({r["fold mean's most frequent answer"] for r in mine})),
            }
        )
    return {"protocol": __doc__.split("Protocol: ")[1].split("\n\n")[0], "rows": out}


VOICE_CHANGES = {  # name -> (audiomentations transform, its arguments), each applied in full to every TESS clip
    "as recorded": None,
    "pitch +4 semitones": ("PitchShift", dict(min_semitones=4, max_semitones=4)),
    "pitch +2 semitones": ("PitchShift", dict(min_semitones=2, max_semitones=2)),
    "pitch -2 semitones": ("PitchShift", dict(min_semitones=-2, max_semitones=-2)),
    "high shelf +8 dB": (
        "HighShelfFilter",
        dict(min_center_freq=2000, max_center_freq=2000, min_gain_db=8, max_gain_db=8),
    ),
    "high shelf -8 dB": (
        "HighShelfFilter",
        dict(min_center_freq=2000, max_center_freq=2000, min_gain_db=-8, max_gain_db=-8),
    ),
}


def changed_states(samples: list, change: tuple | None) -> list[torch.Tensor]:
    """The samples' states as the served models hear them, each clip changed by ``change`` first."""
    import audiomentations

    transform = None if change is None else getattr(audiomentations, change[0])(**change[1], p=1.0)
    waves = [audio.load_audio(sample.audio, max_seconds=30.0) for sample in samples]
    return heard_states([wave if transform is None else transform(wave, audio.SAMPLE_RATE) for wave in waves])


def voices(ravdess: list, tess: list, tess_items: list, copies: dict) -> dict:
    """``--voices`` (the module docstring): per head, change and TESS speaker, the share of clips answered "disgust"
    and the accuracy."""
    fold = load_splits("ravdess_5fold_seed0.json")[0]
    by_speaker = lambda speakers: [item for s, item in ravdess if s.speaker in speakers]  # noqa: E731
    heads = {
        "attention": fold_model("attention", by_speaker(fold.train), by_speaker(fold.val), 0),
        "attention, pitch copies": fold_model(
            "attention_pitch",
            by_speaker(fold.train) + [copies["_pitch"][s.id] for s, _ in ravdess if s.speaker in fold.train],
            by_speaker(fold.val),
            0,
        ),
    }
    classes = np.array([y for _, y in tess_items])
    disgust = CANONICAL7.index("disgust")
    rows = []
    for change, transform in VOICE_CHANGES.items():
        states = [x for x, _ in tess_items] if transform is None else changed_states([s for s in tess], transform)
        items = list(zip(states, classes.tolist()))
        for head, model in heads.items():
            answers = probabilities(model, items).argmax(axis=1)
            row = {"head": head, "change": change}
            for speaker in ("OAF", "YAF"):
                mine = np.array([s.speaker == speaker for s in tess])
                row[f"{speaker} disgust"] = float(np.mean(answers[mine] == disgust))
                row[f"{speaker} accuracy"] = float(np.mean(answers[mine] == classes[mine]))
            rows.append(row)
            print(row, flush=True)
    protocol = (
        "TESS choose half (350 clips: OAF, the older speaker, and YAF, 175 each), read by the fold-0 model (RAVDESS "
        "fold 0's 14 training actors, seed 0) of each head over Whisper base's layers 0-3 of the normalised clip; "
        "each change applied in full to every clip before normalisation"
    )
    return {"protocol": protocol, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="RAVDESS speech (actors 01-20)")
    parser.add_argument("--tess", type=Path, required=True)
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="default: all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--voices", action="store_true", help="which TESS speaker is called 'disgust' (docstring)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ravdess = data.load("ravdess", args.root, calm_as_neutral=True)
    tess = [s for s in data.load("tess", args.tess) if s.split == "choose"]
    states = frozen_states.speech_of_samples(
        ravdess + tess, **STATES, steady_floor_below_db=STEADY_FLOOR_DB, progress=False
    )  # [4, T, 512] each
    classes = [CANONICAL7.index(to_canonical(s.label)) for s in ravdess + tess]
    items = list(zip(states, classes))
    ravdess_items, tess_items = list(zip(ravdess, items[: len(ravdess)])), items[len(ravdess) :]
    chosen = ["attention, pitch copies"] if args.voices else args.variant or list(VARIANTS)
    changes = {copies_of(VARIANTS[name]) for name in chosen} - {None}
    ids = [s.id for s in ravdess]
    copies = {change: dict(zip(ids, zip(changed_copies(ravdess, change), classes))) for change in changes}
    if args.voices:
        save_and_print(
            voices(ravdess_items, tess, tess_items, copies), REPO / "bench" / "results" / "frame_heads_voices", "head"
        )
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        for seed in args.seeds:
            row = run(name, seed, ravdess_items, tess_items, copies)
            (RESULTS / f"{VARIANTS[name]}_seed{seed}.json").write_text(json.dumps(row, indent=1))
    save_and_print(table(), REPO / "bench" / "results" / "frame_heads")


if __name__ == "__main__":
    main()
