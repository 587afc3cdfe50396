"""GoEmotions: 58k Reddit comments labelled with 27 emotions + neutral, official train/dev/test.

Each split is a TSV without header, ``text<TAB>comma-separated label ids<TAB>comment id``, and
``labels.txt`` (``emotions.txt`` in the GitHub ``data/`` folder) names the ids in order. The
release ships three taxonomies side by side: ``original/`` (28 labels), ``ekman/`` (6 Ekman
emotions + neutral) and ``group/`` (sentiment: positive, negative, ambiguous, neutral); the
coarse ones are the fine labels mapped with the official ``ekman_mapping.json`` /
``sentiment_mapping.json`` (:data:`emodemo.core.labels.GOEMOTIONS_TO_EKMAN`, ``..._TO_SENTIMENT``),
so they are derived from ``original/`` when their folder is missing.

About 16% of train rows carry several labels; ``Sample.labels`` holds them all and
``Sample.label`` is the first one (file order; for derived taxonomies the shipped order,
ascending id). ``single_label=True`` keeps only rows with exactly one label, the usual
single-label protocol.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from emodemo.core.labels import (
    EKMAN_WORDS,
    GOEMOTIONS28,
    GOEMOTIONS_EKMAN_IDS,
    GOEMOTIONS_GROUP_IDS,
    GOEMOTIONS_TO_EKMAN,
    GOEMOTIONS_TO_SENTIMENT,
)
from emodemo.data.checks import check_count, dataset_error, locate, log, select_splits
from emodemo.data.record import Sample

SPLITS: tuple[str, ...] = ("train", "dev", "test")
PUBLISHED: dict[str, int] = {"train": 43410, "dev": 5426, "test": 5427}
# taxonomy -> (folder, the label names by id, as the shipped labels.txt lists them)
TAXONOMIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "original": ("original", GOEMOTIONS28),
    "ekman": ("ekman", GOEMOTIONS_EKMAN_IDS),
    "sentiment": ("group", GOEMOTIONS_GROUP_IDS),
}
_FROM_ORIGINAL: dict[str, Mapping[str, str]] = {"ekman": GOEMOTIONS_TO_EKMAN, "sentiment": GOEMOTIONS_TO_SENTIMENT}
_LABEL_FILES = ("labels.txt", "emotions.txt")


def load(
    root: str | Path,
    *,
    labels: str = "original",
    split: str | Iterable[str] | None = None,
    single_label: bool = False,
    from_original: bool = False,
    strict: bool = True,
) -> list[Sample]:
    """Load GoEmotions rows, one Sample per comment (id = comment id), in file order per split.

    ``labels``: "original" (28 GoEmotions names), "ekman" (mapped to our spelling: anger -> angry,
    joy -> happy, fear -> fearful, sadness -> sad, surprise -> surprised) or "sentiment"
    (positive / negative / ambiguous / neutral). The ekman and sentiment labels come from their
    shipped folders, or are derived from ``original/`` when the folder is missing or
    ``from_original=True``. ``split`` picks official splits (default: all present).
    """
    if labels not in TAXONOMIES:
        raise ValueError(f"labels must be one of {list(TAXONOMIES)}, not {labels!r}")
    folders = _taxonomy_folders(root)
    if labels in folders and not (from_original and labels != "original"):
        folder, mapping = folders[labels], None
    elif "original" in folders and labels != "original":
        folder, mapping = folders["original"], _FROM_ORIGINAL[labels]
        log.info("GoEmotions: deriving %s labels from %s", labels, folder)
    else:
        sources = " or ".join(dict.fromkeys((f"{TAXONOMIES[labels][0]}/", "original/")))
        raise dataset_error(
            "goemotions", f"no {sources} folder to read {labels} labels from (found taxonomies {sorted(folders)})", root
        )
    names = _read_label_names(folder, "original" if mapping else labels)
    target_names = TAXONOMIES[labels][1]
    samples = []
    for split_name in select_splits("goemotions", split, _splits_in(folder), folder):
        for text, ids, comment_id in _read_rows(folder / f"{split_name}.tsv", len(names), strict):
            row_labels = [names[i] for i in ids]
            if mapping is not None:  # keep the shipped folders' order: unique, ascending id
                row_labels = sorted({mapping[n] for n in row_labels}, key=target_names.index)
            ours = tuple(EKMAN_WORDS[n] for n in row_labels) if labels == "ekman" else tuple(row_labels)
            if single_label and len(ours) != 1:
                continue
            samples.append(
                Sample(
                    id=comment_id,
                    dataset="goemotions",
                    label=ours[0],
                    labels=ours,
                    text=text,
                    split=split_name,
                    meta={"taxonomy": labels},
                )
            )
    return samples


def _taxonomy_folders(root: str | Path) -> dict[str, Path]:
    """taxonomy -> folder: the shipped sub-folders, or ``root`` itself told apart by its label count."""
    root = locate(
        root,
        "goemotions",
        lambda p: _is_split_folder(p) or any(_is_split_folder(p / folder) for folder, _ in TAXONOMIES.values()),
    )
    if _is_split_folder(root):
        count = len(_read_label_names(root, None))
        kinds = [k for k, (_, names) in TAXONOMIES.items() if len(names) == count]
        if not kinds:
            raise dataset_error("goemotions", f"the label file names {count} labels, expected 28, 7 or 4", root)
        return {kinds[0]: root}
    return {k: root / folder for k, (folder, _) in TAXONOMIES.items() if _is_split_folder(root / folder)}


def _is_split_folder(folder: Path) -> bool:
    return any((folder / f).is_file() for f in _LABEL_FILES) and bool(_splits_in(folder))


def _splits_in(folder: Path) -> list[str]:
    return [s for s in SPLITS if (folder / f"{s}.tsv").is_file()]


def _read_label_names(folder: Path, taxonomy: str | None) -> list[str]:
    """Label names by id; checked against the official list of ``taxonomy`` when given."""
    path = next(folder / f for f in _LABEL_FILES if (folder / f).is_file())
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if taxonomy is not None and tuple(names) != TAXONOMIES[taxonomy][1]:
        raise dataset_error(
            "goemotions",
            f"{path.name} lists {names}, but the official {taxonomy} labels are {list(TAXONOMIES[taxonomy][1])}",
            path,
        )
    return names


def _read_rows(path: Path, n_labels: int, strict: bool) -> list[tuple[str, list[int], str]]:
    """(text, label ids, comment id) per line, with the published row count checked."""
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for line_no, fields in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            try:
                text, ids, comment_id = fields
                label_ids = [int(i) for i in ids.split(",")]
                if not all(0 <= i < n_labels for i in label_ids):
                    raise ValueError
            except ValueError:
                raise dataset_error(
                    "goemotions",
                    f"line {line_no} is not 'text<TAB>ids<TAB>comment id' with ids below {n_labels}: {fields!r:.120}",
                    path,
                ) from None
            rows.append((text, label_ids, comment_id))
    check_count(
        "goemotions", f"{path.stem} rows", len(rows), PUBLISHED[path.stem], path, strict=strict, complete_expected=False
    )
    return rows
