"""The two ways every fusion model here pairs a voice with words.

The rule: every model here that fuses words with a voice is scored on both pairings below, and
constructed pairs are named so wherever they are shown (docs/results.md reports both for each such
model).

RAVDESS has audio and one of two sentences, but no emotional text, so a text-and-audio model is
trained on one of two pairings:

**Real pairs** (:func:`real_pairs`): each RAVDESS clip with its own words, as Whisper heard
them (:mod:`emodemo.speech.transcripts`), with word timestamps for models that align words and sound.
RAVDESS's two sentences, "Kids are talking by the door" and "Dogs are sitting by the door", are
emotionally neutral by design and spoken in every emotion, so the words carry (almost) nothing
about the label: a text-only model should sit near chance (above it only where transcription
errors follow the emotion, e.g. shouted or whispered takes). This pairing measures whether
fusion *hurts* when the words say nothing.

**Constructed (label-matched) pairs** (:func:`constructed_pairs`): each RAVDESS clip with a
text line *of the same emotion* from another corpus, GoEmotions (Reddit comments, Ekman labels,
single-label rows only) or MELD (utterances from Friends). Voice and words were never produced
together; they only share a label. This shows what fusion gains when both modalities carry
emotion, and must be named as constructed wherever it is shown: every pair carries
``meta["pairing_name"]`` such as ``"constructed (GoEmotions lines)"``. Such lines have no word
timestamps: the words were never spoken in the clip, so forced alignment is impossible and
``meta`` has no ``"words"``.

How constructed pairs are drawn:

* Labels meet in the canonical 7-class space (:data:`emodemo.core.labels.CANONICAL7`): RAVDESS
  "calm" counts as "neutral", and each pair's ``label`` is the canonical one.
* Speaker-independent on the audio side, official splits on the text side: for a
  :class:`~emodemo.data.splits.Fold`, clips of the fold's train actors draw lines from the text
  corpus's train split, validation actors from its dev split, test actors from its test split.
  The official splits share no rows, so a text line (``meta["text_id"]``) never serves two parts.
  (Identical *strings* can still occur in two official splits, e.g. MELD's "Okay.": they are
  different rows of the published split, kept as published.)
* MELD: when the copy has no test CSV (ours has train and dev only), the dev set is cut into two
  halves by dialogue (:func:`meld_dev_halves`; dialogues shuffled with
  :data:`MELD_HALVES_SEED`, the first half, rounded up, validates and the rest tests), so no
  dialogue feeds both validation and test. A copy with ``test_sent_emo.csv`` uses the official
  test split.
* Sampling is seeded and deterministic (same clips, fold, corpus and seed -> same pairs). Within
  one part and emotion the lines are drawn without replacement while the pool lasts. When a pool
  is smaller than the clips that need it (MELD's fear and disgust are rare), every line is used
  once before any is used again, so uses differ by at most one (``meta["text_use"]`` counts
  earlier uses; :func:`pair_counts` reports the most uses per emotion); a warning names each such
  shortfall. A part with clips of an emotion its text split lacks entirely is an error.

**Mixed pairs** (:func:`mixed_pairs`): every clip twice, once with a constructed line and once
with its own words, in every part. A model trained so learns to read the words when they carry
emotion and to fall back on the voice when they do not, which is what a user's own clip needs;
a model trained on constructed pairs alone learns that the words always name the emotion, and
on a neutral sentence answers whatever that sentence resembles. Each pair's ``meta["pairing"]``
("constructed" or "real") says which half it is in, so results can be scored per half.

**No words** (:func:`with_unheard_words`, on top of either pairing): the app gives a model no words
when Whisper heard none, or was only guessing them (speech in another language:
:meth:`emodemo.speech.asr.Transcript.as_read`). A model never trained so meets that input first in
the app. With it, a seeded half of the training clips' own-words pairs lose their words (the
training set keeps its size), and every validation and test clip is also scored once more with no
words (``meta["pairing"] = "none"``), so the cost and the gain are measured per half.

**Neutral lines** (:func:`with_neutral_lines`, training only): RAVDESS's two sentences are all the
own words a mixed-pairs model ever meets, so it may learn *those sentences*, not "words with no
emotion", as its sign to trust the voice. With it, a seeded share (half, or all) of the training
clips' (remaining) own-words pairs get a neutral line of the text corpus's train split instead, the
voice's label kept. Measured on `mesm` and Self-MHA, it did not teach them that (docs/results.md).
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from emodemo.core.labels import CANONICAL7, to_canonical
from emodemo.data import goemotions, meld
from emodemo.data.record import Sample
from emodemo.data.splits import Fold, apply
from emodemo.speech.asr import Transcript

log = logging.getLogger(__name__)

PARTS: tuple[str, ...] = ("train", "val", "test")
TEXT_SOURCES: dict[str, str] = {"goemotions": "GoEmotions", "meld": "MELD"}  # option -> name shown
REAL_PAIRING_NAME = "real (own words, Whisper transcript)"
MELD_HALVES_SEED = 0
# where each part's lines come from (MELD without a test CSV: the two dev halves)
_TEXT_SPLITS = {
    "train": "official train",
    "val": "official dev, or MELD's first dev half",
    "test": "official test, or MELD's second dev half",
}


def gold_pairing_name(corpus: str) -> str:
    """The pairing of a corpus that comes with its own transcriptions (IEMOCAP, CMU-MOSEI)."""
    return f"real ({corpus} gold transcriptions)"


def learnt_gold_words(pairing_name: str | None) -> bool:
    """Whether a checkpoint whose card names ``pairing_name`` read a corpus's gold transcriptions in
    training (:func:`gold_pairing_name`), not Whisper's words, which every other one reads in the app."""
    return (pairing_name or "").endswith(" gold transcriptions)")


def constructed_pairing_name(text_source: str) -> str:
    """What tables and plots call constructed pairs: ``"constructed (GoEmotions lines)"``."""
    return f"constructed ({TEXT_SOURCES[_check_source(text_source)]} lines)"


# --- real pairs ----------------------------------------------------------------------------------


def real_pairs(samples: Iterable[Sample], transcripts: Mapping[str, Transcript]) -> list[Sample]:
    """Each clip with its own words: ``text`` = Whisper's transcript, ``meta["words"]`` =
    ``[(word, start_s, end_s), ...]``, ``meta["pairing"] = "real"``, ``meta["no_speech"]``.

    ``transcripts`` maps sample ids to transcripts, as :func:`emodemo.speech.transcripts.transcribe_samples`
    returns them, or :func:`emodemo.speech.transcripts.words_read` as the models read them (no words
    where Whisper was guessing them: what training, the harness and the app give the models). Labels
    are kept as given (8 RAVDESS classes, or 7 when loaded with ``calm_as_neutral=True``); split them
    by fold with :func:`emodemo.data.splits.apply`.
    """
    samples = list(samples)
    missing = [s.id for s in samples if s.id not in transcripts]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(samples)} samples have no transcript (e.g. {missing[:3]}); "
            "get them with emodemo.speech.transcripts.transcribe_samples(samples)"
        )
    pairs = []
    for sample in samples:
        transcript = transcripts[sample.id]
        words = [(w.text, w.start, w.end) for w in transcript.words]
        meta = {
            **sample.meta,
            "pairing": "real",
            "pairing_name": REAL_PAIRING_NAME,
            "words": words,
            "no_speech": transcript.no_speech,
            "transcript_model": transcript.model,
        }
        pairs.append(replace(sample, text=transcript.text, meta=meta))
    return pairs


# --- constructed pairs ---------------------------------------------------------------------------


def constructed_pairs(
    audio_samples: Iterable[Sample], fold: Fold, text_source: str, text_root: str | Path, seed: int = 0
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(train, val, test) constructed pairs for ``fold``: each clip of the fold's actors with a text
    line of the same emotion from ``text_source`` ("goemotions" or "meld", read from
    ``text_root``), drawn from the text split that matches the clip's part (see the module
    docstring).

    Each pair keeps the clip's audio, speaker and ``meta``, and adds ``text`` (the line),
    ``label`` (canonical 7-class), ``split`` ("train" / "val" / "test") and ``meta`` keys
    ``pairing`` ("constructed"), ``pairing_name``, ``text_source``, ``text_id``, ``text_split``,
    ``text_use`` and ``audio_label`` (the clip's own label). Its ``id`` is ``<clip id>+<text id>``.
    """
    name = constructed_pairing_name(text_source)
    pools = text_pools(text_source, text_root)
    audio_parts = apply(audio_samples, fold)
    train, val, test = (
        _draw(part, clips, pools[part], text_source, name, seed) for part, clips in zip(PARTS, audio_parts)
    )
    return train, val, test


# --- pairs with no words -------------------------------------------------------------------------

NO_WORDS_PAIRING_NAME = "no words (what the models read for speech in another language, or none)"


NO_WORDS_SUFFIX = "and the clips with no words (half the training clips', every test clip once more)"


def no_words_pairing_name(name: str) -> str:
    """A pairing's name once :func:`with_unheard_words` has been applied to it."""
    return f"{name}, {NO_WORDS_SUFFIX}"


def learnt_no_words(pairing_name: str | None) -> bool:
    """Whether a checkpoint whose card names ``pairing_name`` learnt to read clips with no words
    (:func:`with_unheard_words`, ``--option no_words=1``), whatever was added to its pairing after that."""
    return NO_WORDS_SUFFIX in (pairing_name or "")


def without_words(pair: Sample) -> Sample:
    """A real pair as a model reads a clip whose words were not heard: no text, no word times,
    ``meta["pairing"] = "none"``, the id marked so the two stay apart."""
    meta = {**pair.meta, "pairing": "none", "pairing_name": NO_WORDS_PAIRING_NAME, "words": []}
    return replace(pair, id=f"{pair.id}+no-words", text="", meta=meta)


def with_unheard_words(
    parts: tuple[list[Sample], list[Sample], list[Sample]], seed: int = 0
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """``(train, val, test)`` with no-words pairs (see the module docstring): in train, a seeded half
    of the real pairs replaced by :func:`without_words` (constructed pairs kept); val and test keep
    every pair and add each real pair's no-words copy after them."""
    train, val, test = parts
    real = [i for i, s in enumerate(train) if s.meta.get("pairing") == "real"]
    dropped = set(random.Random(seed).sample(real, len(real) // 2))
    train = [without_words(s) if i in dropped else s for i, s in enumerate(train)]
    val, test = ([*part, *(without_words(s) for s in part if s.meta.get("pairing") == "real")] for part in (val, test))
    return train, val, test


# --- own words the model never heard -------------------------------------------------------------

NEUTRAL_LINE_PAIRING_NAME = "a neutral line (a clip's own words swapped for a written line with no emotion)"


def neutral_lines_pairing_name(name: str, share: float = 0.5) -> str:
    """A pairing's name once :func:`with_neutral_lines` has been applied to it (to ``share`` of the pairs)."""
    part = "half" if share == 0.5 else "all" if share == 1.0 else f"{share:.0%} of"
    return f"{name}; {part} the training clips' remaining own-words pairs given a neutral written line instead"


def with_neutral_lines(
    train: list[Sample], text_source: str, text_root: str | Path, seed: int = 0, share: float = 0.5
) -> list[Sample]:
    """``train`` with a seeded ``share`` (half by default) of its real pairs given a neutral line of the
    text corpus's train split in place of their own words (label unchanged: the voice's), drawn without
    replacement.

    Why: RAVDESS actors say two sentences only, so a model trained on mixed pairs can learn those two
    sentences, not "words without emotion", as the sign to trust the voice; a user's (or another
    corpus's) neutral sentence then reads to it as a written line and sways the answer. Each pair's
    ``meta["pairing"]`` is ``"neutral_line"``; validation and test parts are not touched."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"the share of own-words pairs given a neutral line is in (0, 1], got {share}")
    real = [i for i, s in enumerate(train) if s.meta.get("pairing") == "real"]
    rng = random.Random(f"{seed}|neutral lines")
    chosen = sorted(rng.sample(real, int(len(real) * share)))
    pool = text_pools(text_source, text_root)["train"].get("neutral", [])
    if len(pool) < len(chosen):
        raise ValueError(
            f"{len(chosen)} clips need a neutral {TEXT_SOURCES[text_source]} line; its train split has {len(pool)}"
        )
    out = list(train)
    for i, line in zip(chosen, rng.sample(pool, len(chosen))):
        pair = train[i]
        meta = {key: value for key, value in pair.meta.items() if key != "words"}
        meta.update(
            pairing="neutral_line", pairing_name=NEUTRAL_LINE_PAIRING_NAME, text_source=text_source, text_id=line.id
        )
        out[i] = replace(pair, id=f"{pair.id}+{line.id}", text=line.text, meta=meta)
    return out


# --- mixed pairs --------------------------------------------------------------------------------


def mixed_pairing_name(text_source: str) -> str:
    return f"mixed (each clip twice: with a {TEXT_SOURCES[_check_source(text_source)]} line, and with its own words)"


def mixed_pairs(
    audio_samples: Sequence[Sample],
    transcripts: Mapping[str, Transcript],
    fold: Fold,
    text_source: str,
    text_root: str | Path,
    seed: int = 0,
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(train, val, test) for ``fold``: each part's constructed pairs followed by the same clips'
    real pairs (see the module docstring). ``pairing_name`` in ``meta`` stays that of each half."""
    constructed = constructed_pairs(audio_samples, fold, text_source, text_root, seed=seed)
    real = apply(real_pairs(audio_samples, transcripts), fold)
    return tuple(list(c) + list(r) for c, r in zip(constructed, real))


def text_pools(text_source: str, text_root: str | Path) -> dict[str, dict[str, list[Sample]]]:
    """part ("train" / "val" / "test") -> canonical emotion -> text lines (in file order) that
    :func:`constructed_pairs` draws from, for ``text_source`` read from ``text_root``."""
    pools: dict[str, dict[str, list[Sample]]] = {}
    for part, lines in _text_parts(_check_source(text_source), text_root).items():
        pools[part] = {}
        for line in lines:  # GoEmotions' Ekman and MELD's labels are canonical names already
            pools[part].setdefault(line.label, []).append(line)
    return pools


def meld_dev_halves(dev: Sequence[Sample], seed: int = MELD_HALVES_SEED) -> tuple[list[Sample], list[Sample]]:
    """MELD dev utterances cut in two by dialogue: (validation half, test half), in file order.

    The dialogue ids are sorted, shuffled with ``random.Random(seed)``, and the first half
    (rounded up) goes to validation, so every dialogue lies wholly in one half.
    """
    dialogues = sorted({s.meta["dialogue_id"] for s in dev})
    if len(dialogues) < 2:
        raise ValueError(f"cannot halve MELD dev by dialogue: it has {len(dialogues)} dialogue(s)")
    random.Random(seed).shuffle(dialogues)
    val_dialogues = set(dialogues[: (len(dialogues) + 1) // 2])
    return (
        [s for s in dev if s.meta["dialogue_id"] in val_dialogues],
        [s for s in dev if s.meta["dialogue_id"] not in val_dialogues],
    )


def pair_counts(train: Sequence[Sample], val: Sequence[Sample], test: Sequence[Sample]) -> dict[str, dict]:
    """A summary per part: ``pairs``, ``by_label`` (pairs per emotion), ``text_lines`` (distinct
    lines used), ``max_uses`` (per emotion, the most clips one line serves; 1 = no repeats) and
    ``pairing_name``. Works for real pairs too (each clip's own transcript is its line)."""
    summary = {}
    for part, pairs in zip(PARTS, (train, val, test)):
        uses = Counter((s.label, s.meta.get("text_id", s.id)) for s in pairs)
        max_uses: dict[str, int] = {}
        for (label, _), count in uses.items():
            max_uses[label] = max(max_uses.get(label, 0), count)
        summary[part] = {
            "pairs": len(pairs),
            "by_label": _in_label_order(Counter(s.label for s in pairs)),
            "text_lines": len({key for _, key in uses}),
            "max_uses": _in_label_order(max_uses),
            "pairing_name": sorted({s.meta.get("pairing_name", "?") for s in pairs}),
        }
    return summary


def _check_source(text_source: str) -> str:
    if text_source not in TEXT_SOURCES:
        raise ValueError(f"text_source must be one of {list(TEXT_SOURCES)}, not {text_source!r}")
    return text_source


def _text_parts(text_source: str, text_root: str | Path) -> dict[str, list[Sample]]:
    """part -> text lines: official train / dev / test (MELD without test: dev halves)."""
    if text_source == "goemotions":
        lines = goemotions.load(text_root, labels="ekman", single_label=True)
    else:
        lines = meld.load(text_root)
    by_split: dict[str, list[Sample]] = defaultdict(list)
    for line in lines:
        by_split[line.split].append(line)
    if text_source == "meld" and not by_split["test"]:
        by_split["dev"], by_split["test"] = meld_dev_halves(by_split["dev"])
        log.info(
            "MELD has no test split here: dev halved by dialogue (seed %d) into %d validation and %d test utterances",
            MELD_HALVES_SEED,
            len(by_split["dev"]),
            len(by_split["test"]),
        )
    return {"train": by_split["train"], "val": by_split["dev"], "test": by_split["test"]}


def _draw(
    part: str,
    clips: Sequence[Sample],
    pools: Mapping[str, list[Sample]],
    text_source: str,
    pairing_name: str,
    seed: int,
) -> list[Sample]:
    """Pair every clip of one part with a line of its canonical emotion from that part's pools."""
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for clip in sorted(clips, key=lambda s: s.id):  # input order must not change the pairs
        label = to_canonical(clip.label) if clip.label is not None else None
        if label is None:
            raise ValueError(f"clip {clip.id} has label {clip.label!r}, which has no place in {CANONICAL7}")
        by_label[label].append(clip)
    pairs = []
    for label in CANONICAL7:
        wanted = by_label.get(label, [])
        if not wanted:
            continue
        pool = pools.get(label, [])
        if not pool:
            raise ValueError(
                f"the {TEXT_SOURCES[text_source]} lines for {part} clips ({_TEXT_SPLITS[part]}) have no "
                f"{label!r} line for the {len(wanted)} {label} {part} clips; their emotions: {sorted(pools)}"
            )
        if len(wanted) > len(pool):
            log.warning(
                "%s: %d %s lines for %d %s clips (%s); each line serves up to %d clips",
                pairing_name,
                len(pool),
                label,
                len(wanted),
                part,
                _TEXT_SPLITS[part],
                -(-len(wanted) // len(pool)),
            )
        rng = random.Random(f"{seed}|{part}|{label}")
        for index, (clip, line) in enumerate(zip(wanted, _without_replacement(pool, len(wanted), rng))):
            meta = {key: value for key, value in clip.meta.items() if key != "words"}
            meta.update(
                pairing="constructed",
                pairing_name=pairing_name,
                text_source=text_source,
                text_id=line.id,
                text_split=line.split,
                text_use=index // len(pool),
                audio_label=clip.label,
            )
            pairs.append(
                replace(
                    clip, id=f"{clip.id}+{line.id}", label=label, labels=(label,), text=line.text, split=part, meta=meta
                )
            )
    return pairs


def _without_replacement(pool: Sequence[Sample], n: int, rng: random.Random) -> list[Sample]:
    """``n`` lines from ``pool``: a shuffled pass through the pool, then another, as often as needed."""
    drawn: list[Sample] = []
    while len(drawn) < n:
        drawn += rng.sample(list(pool), len(pool))
    return drawn[:n]


def _in_label_order(counts: Mapping[str, int]) -> dict[str, int]:
    return {label: counts[label] for label in CANONICAL7 if label in counts}
