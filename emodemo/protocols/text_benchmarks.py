"""The text-only benchmarks every model with a text branch reports besides RAVDESS.

* **GoEmotions Ekman test**: the official train / dev / test splits, Ekman labels (6 emotions +
  neutral, which are :data:`emodemo.core.labels.CANONICAL7`), single-label rows only; train on train,
  pick the epoch on dev, score test once.
* **MELD dev**: MELD's test CSV is not in our copy, so its dev split (1,109 utterances) is the
  test set, scored once; the epoch is picked on :data:`MELD_VAL_SHARE` of the *train* dialogues,
  held out by dialogue (seeded), so no dialogue feeds two parts.

Both are utterance-level and speaker-overlapping (Reddit authors, Friends characters): they test
the words, not speaker independence.
"""

from __future__ import annotations

import random
from pathlib import Path

from emodemo.core.labels import CANONICAL7
from emodemo.data import goemotions, meld
from emodemo.data.record import Sample

TEXT_BENCHMARKS = ("goemotions", "meld")
LABELS = CANONICAL7
MELD_VAL_SHARE = 0.1
MELD_VAL_SEED = 0
DESCRIPTIONS = {
    "goemotions": "GoEmotions Ekman 7 classes, single-label rows; official train / dev (epoch choice) / test",
    "meld": f"MELD 7 classes; train minus {MELD_VAL_SHARE:.0%} of its dialogues (epoch choice) / dev as test",
}


def text_benchmark_parts(name: str, root: str | Path, quick: bool = False) -> tuple[list[Sample], ...]:
    """``(train, validation, test)`` text samples of benchmark ``name`` read from ``root``; for a
    quick (smoke) run, 200 lines of each."""
    parts = _parts(name, root)
    return tuple(part[:200] for part in parts) if quick else parts


def _parts(name: str, root: str | Path) -> tuple[list[Sample], list[Sample], list[Sample]]:
    if name == "goemotions":
        lines = goemotions.load(root, labels="ekman", single_label=True)
        return tuple([s for s in lines if s.split == part] for part in ("train", "dev", "test"))
    if name == "meld":
        lines = meld.load(root, split=("train", "dev"))
        train = [s for s in lines if s.split == "train"]
        dialogues = sorted({s.meta["dialogue_id"] for s in train})
        random.Random(MELD_VAL_SEED).shuffle(dialogues)
        held_out = set(dialogues[: max(1, round(MELD_VAL_SHARE * len(dialogues)))])
        return (
            [s for s in train if s.meta["dialogue_id"] not in held_out],
            [s for s in train if s.meta["dialogue_id"] in held_out],
            [s for s in lines if s.split == "dev"],
        )
    raise ValueError(f"text benchmarks are {list(TEXT_BENCHMARKS)}, not {name!r}")
