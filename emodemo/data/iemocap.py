"""IEMOCAP (full release): five sessions of dyadic conversations, one actress and one actor each.

Per session ``n`` the loader reads three things:

* ``Session{n}/dialog/EmoEvaluation/<dialog>.txt``: one block per utterance whose first line is
  ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``
  (start - end seconds, utterance id, majority emotion, valence / activation / dominance), then
  the individual annotators' lines (ignored);
* ``Session{n}/dialog/transcriptions/<dialog>.txt``: ``Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.``;
* ``Session{n}/sentences/wav/<dialog>/<utterance>.wav`` (16 kHz).

Speaker: the letter before the index in the utterance id (``..._F000`` -> the session's female
actor ``Ses01F``); the dialog name's letter says who wore the motion-capture markers, not who
speaks. ``group`` is the session (``Ses01``), the unit of leave-one-session-out evaluation.

Protocols (``classes``): 4 = neutral, happy (+ excited merged), sad, angry: 5,531 utterances in
the full release, checked when all five sessions are present; 6 = neutral, happy, sad, angry,
excited, frustrated; None = every utterance with its own label (including "undecided" for
``xxx``, no majority).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emodemo.core.labels import IEMOCAP4_MAP, IEMOCAP6_MAP, IEMOCAP_CODES
from emodemo.data.checks import check_count, dataset_error, locate, log
from emodemo.data.record import Sample

SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
PUBLISHED_4CLASS = 5531
PUBLISHED_4CLASS_BY_LABEL: dict[str, int] = {"neutral": 1708, "happy": 1636, "sad": 1084, "angry": 1103}
PROTOCOLS: dict[int | None, dict[str, str] | None] = {4: IEMOCAP4_MAP, 6: IEMOCAP6_MAP, None: None}

_EVALUATION = re.compile(
    r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(\S+)\t(\w+)\t"
    r"\[(\d+(?:\.\d+)?), (\d+(?:\.\d+)?), (\d+(?:\.\d+)?)\]"
)
_TRANSCRIPT = re.compile(r"^(\S+) \[[\d.]+-[\d.]+\]:\s?(.*)$")


@dataclass(frozen=True)
class Evaluation:
    """The majority annotation of one utterance (first line of its EmoEvaluation block)."""

    utterance: str
    dialog: str
    start: float
    end: float
    code: str
    vad: tuple[float, float, float]  # valence, activation, dominance on 1..5

    @property
    def speaker(self) -> str:
        return self.utterance[:5] + self.utterance.rsplit("_", 1)[1][0]


def load(
    root: str | Path, *, classes: int | None = 4, sessions: Iterable[int] | None = None, strict: bool = True
) -> list[Sample]:
    """Load IEMOCAP utterances of the chosen protocol, one Sample per utterance, sorted by id.

    ``label`` in our spelling mapped by the protocol (utterances outside it are left out);
    ``text`` the transcription; ``audio`` the sentence WAV (None, with a warning, when missing);
    ``speaker`` ``Ses01F``; ``group`` ``Ses01``; ``meta``: session, dialog, improvised (bool),
    gender, start / end seconds, valence / activation / dominance, and the raw ``code``.
    ``sessions`` keeps only those session numbers.
    """
    if classes not in PROTOCOLS:
        raise ValueError(f"classes must be 4, 6 or None, not {classes!r}")
    folder = locate(root, "iemocap", _has_sessions, children=("IEMOCAP_full_release",))
    present = [n for n in SESSIONS if (folder / f"Session{n}").is_dir()]
    wanted = [n for n in present if sessions is None or n in set(sessions)]
    evaluations = [e for n in wanted for e in _read_evaluations(folder / f"Session{n}")]
    if set(present) == set(SESSIONS) and sessions is None:
        _check_four_class_count(evaluations, folder, strict)
    log.info("IEMOCAP: %d utterances in sessions %s", len(evaluations), wanted)
    samples = _to_samples(folder, evaluations, PROTOCOLS[classes])
    return sorted(samples, key=lambda s: s.id)


def _has_sessions(folder: Path) -> bool:
    return any((folder / f"Session{n}" / "dialog" / "EmoEvaluation").is_dir() for n in SESSIONS)


def _read_evaluations(session: Path) -> list[Evaluation]:
    directory = session / "dialog" / "EmoEvaluation"
    files = sorted(p for p in directory.glob("Ses*.txt") if not p.name.startswith("._"))
    if not files:
        raise dataset_error("iemocap", "no EmoEvaluation/*.txt files", directory)
    evaluations = []
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if match := _EVALUATION.match(line):
                start, end, utterance, code, *vad = match.groups()
                if code not in IEMOCAP_CODES:
                    raise dataset_error("iemocap", f"unknown emotion code {code!r} for {utterance}", path)
                evaluations.append(
                    Evaluation(utterance, path.stem, float(start), float(end), code, tuple(float(v) for v in vad))
                )
    return evaluations


def _check_four_class_count(evaluations: list[Evaluation], folder: Path, strict: bool) -> None:
    found = Counter(IEMOCAP4_MAP[IEMOCAP_CODES[e.code]] for e in evaluations if IEMOCAP_CODES[e.code] in IEMOCAP4_MAP)
    by_label = ", ".join(f"{k} {found[k]:,}/{n:,}" for k, n in PUBLISHED_4CLASS_BY_LABEL.items())
    check_count(
        "iemocap",
        f"4-class utterances of all 5 sessions (found/published: {by_label})",
        sum(found.values()),
        PUBLISHED_4CLASS,
        folder,
        strict=strict,
    )


def _read_transcripts(dialog_dir: Path, dialog: str) -> dict[str, str]:
    path = dialog_dir / "transcriptions" / f"{dialog}.txt"
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return {m.group(1): m.group(2).strip() for line in lines if (m := _TRANSCRIPT.match(line))}


def _to_samples(folder: Path, evaluations: list[Evaluation], protocol: dict[str, str] | None) -> list[Sample]:
    transcripts: dict[tuple[str, str], dict[str, str]] = {}
    samples, no_audio, no_text = [], 0, 0
    for e in evaluations:
        label = IEMOCAP_CODES[e.code]
        if protocol is not None:
            if label not in protocol:
                continue
            label = protocol[label]
        session = folder / f"Session{int(e.utterance[3:5])}"
        key = (session.name, e.dialog)
        if key not in transcripts:
            transcripts[key] = _read_transcripts(session / "dialog", e.dialog)
        text = transcripts[key].get(e.utterance)
        wav = session / "sentences" / "wav" / e.dialog / f"{e.utterance}.wav"
        no_audio += not wav.is_file()
        no_text += text is None
        samples.append(
            Sample(
                id=e.utterance,
                dataset="iemocap",
                label=label,
                speaker=e.speaker,
                group=e.utterance[:5],
                audio=wav if wav.is_file() else None,
                text=text,
                meta={
                    "session": int(e.utterance[3:5]),
                    "dialog": e.dialog,
                    "improvised": "_impro" in e.dialog,
                    "gender": "female" if e.speaker.endswith("F") else "male",
                    "start": e.start,
                    "end": e.end,
                    "valence": e.vad[0],
                    "activation": e.vad[1],
                    "dominance": e.vad[2],
                    "code": e.code,
                },
            )
        )
    if no_audio or no_text:
        log.warning(
            "IEMOCAP: of %d utterances, %d have no sentence WAV and %d no transcription",
            len(samples),
            no_audio,
            no_text,
        )
    return samples
