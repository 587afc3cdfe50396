"""FER-2013 faces (48x48 grey JPEGs) in the usual folder layout, with duplicate removal.

Layout: ``<split>/<emotion>/<name>.jpg`` with splits ``train`` (28,709 images, the original
"Training" usage) and ``test`` (3,589, "PublicTest"); a ``val`` folder is accepted too (copies
that split PublicTest / PrivateTest into val / test, 3,589 each). Emotion folders are angry,
disgust, fear, happy, neutral, sad, surprise.

FER-2013 has exact duplicate images, some within a split, some across train and test (test
leakage), some filed under different emotions (label noise). :func:`deduplicate`, applied by
:func:`load` unless ``dedupe=False``, removes them by content hash and says what it removed
(:class:`DedupReport`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emodemo.core.labels import FER_FOLDERS
from emodemo.data.checks import check_count, dataset_error, locate, log, select_splits
from emodemo.data.duplicates import exact_duplicates
from emodemo.data.record import Sample

SPLITS: tuple[str, ...] = ("train", "val", "test")  # precedence when a copy spans splits
PUBLISHED: dict[str, int] = {"train": 28709, "val": 3589, "test": 3589}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load(
    root: str | Path, *, split: str | Iterable[str] | None = None, dedupe: bool = True, strict: bool = True
) -> list[Sample]:
    """Load FER-2013 images, one Sample per image, sorted by id (``<split>/<folder>/<name>``).

    ``label`` is our spelling (folder ``fear`` -> ``fearful``, ``surprise`` -> ``surprised``);
    ``image`` the file; ``split`` the folder; there is no speaker. ``split`` picks splits (default:
    all present). With ``dedupe`` (default) every split is read and de-duplicated together, so
    test images that also appear in train are removed even when only ``split="test"`` is
    returned; the report is logged (call :func:`deduplicate` yourself to get it).
    """
    folder = locate(root, "fer2013", lambda p: any((p / s).is_dir() for s in SPLITS))
    present = [s for s in SPLITS if (folder / s).is_dir()]
    wanted = select_splits("fer2013", split, present, folder)
    samples = [sample for s in (present if dedupe else wanted) for sample in _read_split(folder, s, strict)]
    if dedupe:
        samples, report = deduplicate(samples)
        log.info("FER-2013 de-duplication:\n%s", report)
    return [s for s in samples if s.split in wanted]


def _read_split(folder: Path, split: str, strict: bool) -> list[Sample]:
    split_dir = folder / split
    emotion_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    unknown = [p.name for p in emotion_dirs if p.name not in FER_FOLDERS]
    if unknown or not emotion_dirs:
        problem = f"unknown emotion folders {unknown}" if unknown else "no emotion folders"
        raise dataset_error("fer2013", f"{problem}; expected {sorted(FER_FOLDERS)}", split_dir)
    samples = [
        Sample(
            id=f"{split}/{d.name}/{path.stem}", dataset="fer2013", label=FER_FOLDERS[d.name], image=path, split=split
        )
        for d in emotion_dirs
        for path in sorted(d.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise dataset_error("fer2013", f"no images in {split}/", split_dir)
    check_count(
        "fer2013", f"{split} images", len(samples), PUBLISHED[split], split_dir, strict=strict, complete_expected=False
    )
    return samples


@dataclass(frozen=True)
class SplitCounts:
    """What de-duplication did to one split: ``before - removed = after``."""

    before: int
    within_split_duplicates: int  # extra copies of an image already kept in the same split
    cross_split_leaks: int  # images already present in an earlier split (train before val before test)
    label_conflicts: int  # every copy of an image filed under two or more emotions

    @property
    def after(self) -> int:
        return self.before - self.within_split_duplicates - self.cross_split_leaks - self.label_conflicts


@dataclass(frozen=True)
class DedupReport:
    """Per-split counts of :func:`deduplicate`."""

    splits: dict[str, SplitCounts]

    def __str__(self) -> str:
        rows = [f"{'split':<6} {'before':>7} {'within':>7} {'leaks':>6} {'conflict':>8} {'after':>7}"]
        rows += [
            f"{name:<6} {c.before:>7,} {c.within_split_duplicates:>7,} {c.cross_split_leaks:>6,} "
            f"{c.label_conflicts:>8,} {c.after:>7,}"
            for name, c in self.splits.items()
        ]
        return "\n".join(rows)


def deduplicate(samples: list[Sample]) -> tuple[list[Sample], DedupReport]:
    """Remove duplicate images by content hash (BLAKE2b of the file bytes).

    Rules, applied to every group of byte-identical images:
      1. copies filed under different emotions: all are dropped (no trustworthy label);
      2. otherwise one copy per split is kept (the first by id), the others are within-split
         duplicates;
      3. a kept copy in a later split (order train, val, test) whose image is in an earlier split
         is a cross-split leak and is dropped, so evaluation never sees a training image.
    Returns the kept samples (input order) and the per-split :class:`DedupReport`.
    """
    by_path = {s.image: s for s in samples}
    dropped: dict[str, str] = {}  # id -> reason
    for copies in exact_duplicates(by_path):
        dropped.update(_duplicate_reasons([by_path[p] for p in copies]))
    present = [s for s in SPLITS if any(x.split == s for x in samples)]
    counts = {
        split: SplitCounts(
            before=sum(s.split == split for s in samples),
            **{
                reason: sum(s.split == split and dropped.get(s.id) == reason for s in samples)
                for reason in ("within_split_duplicates", "cross_split_leaks", "label_conflicts")
            },
        )
        for split in present
    }
    return [s for s in samples if s.id not in dropped], DedupReport(counts)


def _duplicate_reasons(copies: list[Sample]) -> dict[str, str]:
    """id -> why it goes, for one group of identical images (see :func:`deduplicate`)."""
    if len({c.label for c in copies}) > 1:
        return {c.id: "label_conflicts" for c in copies}
    reasons, seen_in_earlier_split = {}, False
    for split in SPLITS:
        in_split = sorted((c for c in copies if c.split == split), key=lambda c: c.id)
        if not in_split:
            continue
        keeper, *extra = in_split
        reasons.update({c.id: "within_split_duplicates" for c in extra})
        if seen_in_earlier_split:
            reasons[keeper.id] = "cross_split_leaks"
        seen_in_earlier_split = True
    return reasons
