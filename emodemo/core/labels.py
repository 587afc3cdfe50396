"""Label sets and every per-dataset mapping, in one place.

Each dataset names its emotions its own way (RAVDESS codes "05", IEMOCAP "ang", CREMA-D "ANG",
EmoDB "W", GoEmotions "anger", FER folders "angry" ...). Loaders keep the dataset's own label in
``Sample.label`` *already translated to our spelling* (the names below); models and metrics then
pick a label set and map into it with :func:`to_canonical`.

The canonical 7-class set is the six Ekman emotions plus neutral; every dataset here maps into it
(RAVDESS "calm" becomes "neutral" when ``calm_as_neutral=True``, the common choice in papers that
report 7 classes on RAVDESS).
"""

from __future__ import annotations

# The canonical 7-class set, in a fixed order used by every model that predicts it.
CANONICAL7: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# RAVDESS speech: the emotion field of the file name (third field) -> our name.
RAVDESS_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
RAVDESS8: tuple[str, ...] = tuple(RAVDESS_CODES.values())

# FER-2013 folder names -> our names.
FER_FOLDERS: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprised",
}
FER7: tuple[str, ...] = tuple(FER_FOLDERS.values())

# GoEmotions: the 28 fine labels in the order of the official labels.txt (ids 0..27).
GOEMOTIONS28: tuple[str, ...] = (
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
)
# The official Ekman grouping of the 28 labels (GoEmotions' ekman_mapping.json); neutral stays.
GOEMOTIONS_TO_EKMAN: dict[str, str] = {
    **{k: "anger" for k in ("anger", "annoyance", "disapproval")},
    "disgust": "disgust",
    **{k: "fear" for k in ("fear", "nervousness")},
    **{
        k: "joy"
        for k in (
            "joy",
            "amusement",
            "approval",
            "excitement",
            "gratitude",
            "love",
            "optimism",
            "relief",
            "pride",
            "admiration",
            "desire",
            "caring",
        )
    },
    **{k: "sadness" for k in ("sadness", "disappointment", "embarrassment", "grief", "remorse")},
    **{k: "surprise" for k in ("surprise", "realization", "confusion", "curiosity")},
    "neutral": "neutral",
}
# The official sentiment grouping (sentiment_mapping.json); neutral stays.
GOEMOTIONS_TO_SENTIMENT: dict[str, str] = {
    **{
        k: "positive"
        for k in (
            "amusement",
            "excitement",
            "joy",
            "love",
            "desire",
            "optimism",
            "caring",
            "pride",
            "admiration",
            "gratitude",
            "relief",
            "approval",
        )
    },
    **{
        k: "negative"
        for k in (
            "fear",
            "nervousness",
            "remorse",
            "embarrassment",
            "disappointment",
            "sadness",
            "grief",
            "disgust",
            "anger",
            "annoyance",
            "disapproval",
        )
    },
    **{k: "ambiguous" for k in ("realization", "surprise", "curiosity", "confusion")},
    "neutral": "neutral",
}
# Ids of the shipped ekman/ and group/ folders (their labels.txt order).
GOEMOTIONS_EKMAN_IDS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
GOEMOTIONS_GROUP_IDS: tuple[str, ...] = ("ambiguous", "negative", "neutral", "positive")
SENTIMENT4: tuple[str, ...] = GOEMOTIONS_GROUP_IDS

# Ekman names as GoEmotions and MELD spell them -> our names.
EKMAN_WORDS: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "joy": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprised",
}

# IEMOCAP EmoEvaluation codes -> our names ("exc" excited and "fru" frustrated kept apart here;
# the 4- and 6-class protocols below decide what to merge or drop).
IEMOCAP_CODES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "excited",
    "sad": "sad",
    "ang": "angry",
    "fru": "frustrated",
    "fea": "fearful",
    "sur": "surprised",
    "dis": "disgust",
    "oth": "other",
    "xxx": "undecided",
}
# The usual 4-class protocol: excited merged into happy -> 5,531 utterances.
IEMOCAP4: tuple[str, ...] = ("neutral", "happy", "sad", "angry")
IEMOCAP4_MAP: dict[str, str] = {
    "neutral": "neutral",
    "happy": "happy",
    "excited": "happy",
    "sad": "sad",
    "angry": "angry",
}
# The usual 6-class protocol (happy, sad, neutral, angry, excited, frustrated).
IEMOCAP6: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "excited", "frustrated")
IEMOCAP6_MAP: dict[str, str] = {k: k for k in IEMOCAP6}

# CREMA-D file-name emotion codes -> our names.
CREMAD_CODES: dict[str, str] = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
CREMAD6: tuple[str, ...] = tuple(CREMAD_CODES.values())

# EmoDB (Berlin) file-name letter (6th character, German initials) -> our names.
EMODB_CODES: dict[str, str] = {
    "W": "angry",
    "L": "bored",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}
EMODB7: tuple[str, ...] = tuple(EMODB_CODES.values())

# TESS file-name emotion (last field; pleasant surprise is "ps") -> our names.
TESS_CODES: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",
    "sad": "sad",
}

# Our names that have no place in the canonical set (dropped when mapping to it).
_OUTSIDE_CANONICAL = {"excited": "happy"}  # the common IEMOCAP merge, also used canonically


def to_canonical(label: str, calm_as_neutral: bool = True) -> str | None:
    """Map one of our label names into :data:`CANONICAL7`; ``None`` when it has no place there.

    >>> to_canonical("calm"), to_canonical("calm", calm_as_neutral=False), to_canonical("bored")
    ('neutral', None, None)
    """
    if label in CANONICAL7:
        return label
    if label == "calm":
        return "neutral" if calm_as_neutral else None
    return _OUTSIDE_CANONICAL.get(label)
