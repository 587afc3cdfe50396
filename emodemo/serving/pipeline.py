"""From a user's clip to every model's answer: the one entry point of the app and the CLI.

``Pipeline`` loads the transcriber and every trained checkpoint once; :meth:`Pipeline.analyse`
then decodes a clip, checks it is usable, transcribes it and asks each model, timing each stage.
Problems with the clip raise :class:`ClipError`, whose message is meant for the user.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from emodemo.core.files import CHECKPOINTS
from emodemo.inputs.audio import MAX_SECONDS, SAMPLE_RATE, AudioError, duration, is_silent, load_audio
from emodemo.recipes import Recipe, explains, hook, reads_faces

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"}  # files whose frames the face models read
FACE_FPS = 5.0  # face frames sampled per second of video
MIN_SECONDS = 0.5  # shorter clips hold less than a word
SOUND_AND_WORDS = {"audio", "text"}  # what a voice clip gives the models
GATED_FIGURE_NOTE = (  # in place of a figure of words over the sound, for a model that read none through the gate
    "It read no words: the words expert heard no emotion in them (the words gate), so its words had nothing "
    "to attend to in the sound and its answer is the voice's. The details say why."
)


def words_left_out(transcript) -> str:
    """Why the fused answer leaves a transcript's words out ("" when it reads them, or when there is
    no transcript yet): Whisper heard no words, or was guessing them
    (:meth:`emodemo.speech.asr.Transcript.guessed`; every model then reads no words). An answer to
    no words, or to a guess, says "neutral" whatever the voice says (``bench/guessed_words.py``),
    and the fusion was fitted on words Whisper heard."""
    if transcript is None:
        return ""
    if not transcript.text.strip():
        return "no words were recognised"
    return "Whisper was guessing them" if transcript.guessed() else ""


def _as_read(transcript):
    """The transcript as the models read it (:meth:`emodemo.speech.asr.Transcript.as_read`: no words
    when Whisper was guessing them); None stays None."""
    return transcript.as_read() if transcript is not None else None


class ClipError(ValueError):
    """The clip cannot be analysed; ``str(err)`` tells the user why and what to do."""


def refusal(wave: np.ndarray) -> str | None:
    """Why the app will not analyse a 16 kHz waveform (empty, shorter than :data:`MIN_SECONDS`,
    silent), as the user reads it; ``None`` when it will. The cross-corpus harness leaves such clips
    out too, so its numbers are those of clips the app answers."""
    if len(wave) == 0:
        return "The clip is empty: it holds no audio samples."
    if duration(wave) < MIN_SECONDS:
        return f"The clip is too short ({duration(wave):.2f} s): give at least {MIN_SECONDS:.1f} s of speech."
    if is_silent(wave):
        return (
            "The clip is silent: no sound above the noise floor was found. Check the microphone or the file's volume."
        )
    return None


def noise_gate_notes(wave: np.ndarray, models: Sequence[LoadedModel]) -> list[str]:
    """A note naming the models that hear ``wave`` with its stationary noise gated out because it
    sounds noisy to them (input settings ``denoise_below_db``, ``steady_floor_below_db``:
    :func:`emodemo.inputs.normalise.gated`)."""
    from emodemo.inputs.normalise import estimated_snr_db, gated

    specs = {m.name: m.meta.get("input_spec") or {} for m in models}
    if all(spec.get("denoise_below_db") is None for spec in specs.values()):
        return []
    snr = estimated_snr_db(wave)
    gating = [name for name, spec in specs.items() if spec.get("denoise_below_db") is not None and gated(wave, spec)]
    if not gating:
        return []
    return [
        f"The clip sounds noisy (estimated SNR {snr:.0f} dB): {', '.join(gating)} "
        "heard it with its steady background noise gated out."
    ]


@dataclass
class Prediction:
    model: str
    ranking: list[tuple[str, float]]  # (emotion, probability), most likely first
    modalities: tuple[str, ...]
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # what else the model returned, batch axis
    # dropped: e.g. nmt_attention's "attention" [words, audio states]
    unsure_below: float | None = None  # the checkpoint's calibrated "unsure" line (None: it has none)
    words_gated: bool = False  # it read no words: the words expert heard no emotion in them (words_gate)

    @property
    def top(self) -> str:
        return self.ranking[0][0]

    @property
    def unsure(self) -> bool:
        """True when the calibrated top probability is under the line chosen on validation speakers
        (where the clips answered above it were right at least 80 % of the time)."""
        return self.unsure_below is not None and self.ranking[0][1] < self.unsure_below


@dataclass
class Analysis:
    duration: float  # seconds analysed
    transcript: object | None  # emodemo.speech.asr.Transcript, None when not asked for
    predictions: dict[str, Prediction]
    timings: dict[str, float]  # stage -> seconds
    device: str
    notes: list[str] = field(default_factory=list)
    wave: np.ndarray | None = None  # the samples analysed (16 kHz), for figures


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    labels: list[str]
    meta: dict
    recipe: Recipe


def discover(checkpoints: Path = CHECKPOINTS) -> list[str]:
    """The trained models under ``checkpoints`` that this version knows, by folder relative to it:
    ``"ssl_mha"``, and a variant saved inside another's folder as ``"ssl_mha/cross"``. Models of
    single cross-validation folds (under a ``fold<k>/`` folder, kept for notebooks to look inside)
    are not served."""
    from emodemo.recipes import names
    from emodemo.training.checkpoint import read_checkpoint_config

    known = set(names())
    found = []
    for config in Path(checkpoints).glob("**/config.json"):
        try:
            model_name = read_checkpoint_config(config.parent)["model_name"]
        except (ValueError, KeyError):  # not one of ours
            continue
        relative = config.parent.relative_to(checkpoints)
        if model_name in known and not any(re.fullmatch(r"fold\d+", part) for part in relative.parts):
            found.append(relative.as_posix())
    return sorted(found)


def reads(m: LoadedModel) -> tuple[str, ...]:
    """What a loaded model reads: "audio", "text" and/or "face" (its recipe's ``reads(meta)`` hook,
    :mod:`emodemo.recipes.contract`: the checkpoint may decide, e.g. a text-only variant)."""
    if reads_faces(m.recipe):  # a face model (see Pipeline.face_models)
        return ("face",)
    return tuple(hook(m.recipe, "reads")(m.meta))


def load_models(
    names: Sequence[str] | None = None, checkpoints: Path = CHECKPOINTS, device: torch.device | None = None
) -> list[LoadedModel]:
    """Load checkpoints (safetensors + JSON; never code from the files). ``names`` are folders
    relative to ``checkpoints`` (as :func:`discover` gives them) or paths; each model is called by
    that relative name, or by its folder's name when given as a path elsewhere."""
    from emodemo.models import REGISTRY
    from emodemo.recipes import get_recipe
    from emodemo.training.checkpoint import load_checkpoint

    loaded = []
    for name in names if names is not None else discover(checkpoints):
        inside = not Path(name).is_dir()
        folder = Path(checkpoints) / name if inside else Path(name)
        model, meta = load_checkpoint(folder, REGISTRY, device=device)
        model.eval()
        shown = Path(name).as_posix() if inside else folder.name
        loaded.append(LoadedModel(shown, model, list(meta["labels"]), meta, get_recipe(meta["model_name"])))
    return loaded


_EXPERTS: dict[Path, LoadedModel] = {}  # the words expert of each checkpoints folder, loaded once


def words_expert(checkpoints: Path = CHECKPOINTS) -> LoadedModel | None:
    """The words expert the words gate listens to (:data:`emodemo.serving.words_gate.EXPERT`), loaded
    once per ``checkpoints`` folder; None when that folder has none (nothing is remembered then)."""
    from emodemo.serving.words_gate import EXPERT

    folder = Path(checkpoints).resolve()
    if folder not in _EXPERTS and (folder / EXPERT / "config.json").is_file():
        _EXPERTS[folder] = load_models([EXPERT], folder)[0]
    return _EXPERTS.get(folder)


class Pipeline:
    """Transcriber + every trained model, loaded once; :meth:`analyse` answers for one clip."""

    def __init__(
        self,
        models: Sequence[str] | None = None,
        checkpoints: Path = CHECKPOINTS,
        transcribe: bool = True,
        asr_backend: str | None = None,
        asr_model: str = "tiny.en",
        max_seconds: float = MAX_SECONDS,
    ):
        from emodemo.core.device import pick_device

        self.device = pick_device()
        self.max_seconds = max_seconds
        self.asr_backend, self.asr_model = asr_backend, asr_model
        self.transcribe = transcribe
        self.checkpoints = Path(checkpoints)
        self.models = load_models(models, checkpoints, device=self.device)
        self._add_the_gates_expert()
        for m in self.models:
            m.recipe.prepare(m.meta.get("input_spec"))
        if transcribe:  # load Whisper now, not on the first user's request
            from emodemo.speech.asr import load_model

            load_model(asr_backend, asr_model)

    def _add_the_gates_expert(self) -> None:
        """A model that reads words through the words gate needs the words expert's answer: load the
        expert too when it was not asked for (it then answers beside the others), or warn."""
        from emodemo.serving.words_gate import EXPERT, gated

        gating = [m.name for m in self.models if gated(m.meta)]
        if not gating or any(m.name == EXPERT for m in self.models):
            return
        if (self.checkpoints / EXPERT / "config.json").is_file():
            self.models += load_models([EXPERT], self.checkpoints, device=self.device)
        else:
            log.warning("no words expert %s in %s: %s read every word ungated", EXPERT, self.checkpoints, gating)

    @property
    def voice_models(self) -> list[LoadedModel]:
        """The models that answer for a voice clip (a face model has nothing to read in one)."""
        return [m for m in self.models if set(m.recipe.MODALITIES) <= SOUND_AND_WORDS]

    @property
    def face_models(self) -> list[LoadedModel]:
        """The models that read the faces of a video (their recipe has the ``video_emotion`` hook)."""
        return [m for m in self.models if reads_faces(m.recipe)]

    def reads(self, m: LoadedModel) -> tuple[str, ...]:
        """What a loaded model reads in a clip (:func:`reads`)."""
        return reads(m)

    @property
    def explainable(self) -> list[LoadedModel]:
        """The models that can draw what they looked at in a clip (their recipe's ``explain`` hook, and
        ``explains(meta)`` when the checkpoint decides, e.g. a text-only variant has no attention)."""
        return [m for m in self.models if explains(m.recipe, m.meta)]

    @functools.cached_property
    def experts(self) -> dict[str, LoadedModel]:
        """Per modality, the model reading it alone that scores best on what the app gives it
        (:func:`emodemo.reports.headline.expert_score`, :mod:`emodemo.serving.fusion`)."""
        from emodemo.reports.headline import expert_score
        from emodemo.serving.fusion import choose_experts

        return choose_experts(self.models, self.reads, lambda m: expert_score(m.meta, self.reads(m)))

    @functools.cached_property
    def stacker(self):
        """The learned fusion (:class:`emodemo.serving.fusion.Stacker`) when one was fitted for the served
        experts (``checkpoints/fusion/stacker.json``), else None (the weighted mean fuses)."""
        from emodemo.serving.fusion import Stacker

        path = self.checkpoints / "fusion" / "stacker.json"
        if not path.is_file():
            return None
        stacker = Stacker.load(path)
        if not set(stacker.modalities) <= set(self.experts):
            log.warning(
                "%s fuses %s, but the served experts are %s: using the weighted mean",
                path,
                stacker.modalities,
                sorted(self.experts),
            )
            return None
        return stacker

    def fused(self, alone: Mapping[str, Mapping[str, float]], weights: Mapping[str, float]) -> dict[str, float]:
        """The fused canonical answer: the learned stacker with ``weights`` scaling each modality's
        term when there is one, else the weighted mean (:mod:`emodemo.serving.fusion`)."""
        from emodemo.serving.fusion import fuse

        return self.stacker(alone, weights) if self.stacker is not None else fuse(alone, weights)

    def fused_unsure(
        self, alone: Mapping[str, Mapping[str, float]], weights: Mapping[str, float], fused: Mapping[str, float]
    ) -> bool | None:
        """Whether :meth:`fused`'s answer is under the learned fusion's "unsure" line; None when there is
        no such line for these modalities and weights (:meth:`emodemo.serving.fusion.Stacker.unsure`)."""
        return self.stacker.unsure(fused, alone, weights) if self.stacker is not None else None

    def modalities_alone(self, analysis: Analysis) -> dict[str, dict[str, float]]:
        """``{modality: canonical-7 probabilities}`` of each expert that answered the clip, the
        words expert left out when Whisper heard no words or was guessing them (:func:`words_left_out`)."""
        from emodemo.serving.fusion import canonical_probabilities

        left_out = bool(words_left_out(analysis.transcript))
        return {
            modality: canonical_probabilities(analysis.predictions[m.name].ranking)
            for modality, m in self.experts.items()
            if m.name in analysis.predictions and not (left_out and "text" in self.reads(m))
        }

    def analyse(self, path: str | Path) -> Analysis:
        """Answer for an audio file, or a video: its sound as for audio, and the face models on
        its frames (a video without sound gets the face models alone, and says so)."""
        *_, analysis = self.stages(path)
        return analysis

    def stages(self, path: str | Path) -> Iterator[Analysis]:
        """:meth:`analyse` as it goes: the same :class:`Analysis`, yielded each time it grows (the
        voice-only models' answers, then the transcript and the words models', then for a video
        the face models'), so that a user sees each answer as soon as it is ready."""
        timings: dict[str, float] = {}
        video = Path(path).suffix.lower() in VIDEO_SUFFIXES
        with _timed(timings, "decode"):
            try:
                wave, problem = load_audio(path, max_seconds=self.max_seconds + 0.01), None
            except AudioError as err:
                if not video:
                    raise ClipError(str(err)) from None
                wave, problem = None, str(err)
        if wave is not None:
            with closing(self.wave_stages(wave, timings)) as sound:  # closing these stages closes the sound's
                for analysis in sound:
                    yield analysis
        faces, face_notes = self._faces(path, timings) if video else ({}, [])
        if wave is None:
            if not faces:
                raise ClipError(" ".join([problem, *face_notes]))
            seconds = max(float(p.extras["timestamps"].max()) for p in faces.values())
            yield Analysis(
                seconds,
                None,
                faces,
                timings,
                str(self.device),
                ["The video has no sound track: only the face models answer.", *face_notes],
            )
        elif video:
            analysis.predictions.update(faces)
            analysis.notes.extend(face_notes)
            yield analysis

    def _faces(self, path: str | Path, timings: dict[str, float]) -> tuple[dict[str, Prediction], list[str]]:
        """Each face model's answer for a video's frames, and notes for the user (no face seen ...)."""
        from emodemo.inputs.video import VideoError

        predictions, notes = {}, []
        for m in self.face_models:
            with _timed(timings, m.name):
                try:
                    faces = m.recipe.video_emotion(
                        m.model,
                        m.labels,
                        path,
                        fps=FACE_FPS,
                        max_frames=int(self.max_seconds * FACE_FPS),
                        temperature=temperature(m.meta),
                    )
                except VideoError:  # e.g. a .webm holding sound only: nothing for the face models
                    return {}, []
                except ValueError as err:
                    notes.append(f"{m.name}: {err}")
                    continue
            order = np.argsort(-faces["mean"])
            predictions[m.name] = Prediction(
                m.name,
                [(m.labels[i], float(faces["mean"][i])) for i in order],
                ("face",),
                {k: faces[k] for k in ("per_face", "timestamps", "crops")},
                unsure_line(m.meta),
            )
        return predictions, notes

    def analyse_wave(self, wave: np.ndarray, timings: dict[str, float] | None = None) -> Analysis:
        """Every voice and words model's answer for a 16 kHz waveform (see :meth:`wave_stages`)."""
        *_, analysis = self.wave_stages(wave, {} if timings is None else timings)
        return analysis

    def wave_stages(self, wave: np.ndarray, timings: dict[str, float]) -> Iterator[Analysis]:
        """Check a 16 kHz waveform (too short, silent: :class:`ClipError`; too long: cut, with a
        note), then yield its :class:`Analysis` twice: with the answers of the models that hear the
        voice alone, then with the transcript and every other voice and words model's answer."""
        notes = []
        if duration(wave) > self.max_seconds:
            wave = wave[: int(self.max_seconds * SAMPLE_RATE)]
            notes.append(
                f"The clip is longer than {self.max_seconds:.0f} s: only its first "
                f"{self.max_seconds:.0f} s were analysed."
            )
        why = refusal(wave)
        if why:
            raise ClipError(why)
        notes += noise_gate_notes(wave, self.voice_models)
        analysis = Analysis(duration(wave), None, {}, timings, str(self.device), notes, wave)
        hearing = [m for m in self.voice_models if set(self.reads(m)) == {"audio"}]
        reading = [m for m in self.voice_models if m not in hearing]
        # Whisper writes the transcript while the voice-only models answer: the transcriber's decoding loop
        # leaves cores idle that their encoder pass fills (bench/app.py); its time overlaps theirs
        from emodemo.speech.asr import transcribe

        scribe = ThreadPoolExecutor(max_workers=1)
        try:
            asked = {"model": self.asr_model, "backend": self.asr_backend}
            transcript = scribe.submit(transcribe, analysis.wave, **asked) if self.transcribe else None
            self._answer(analysis, hearing)
            yield analysis
            if transcript is not None:
                self._take_transcript(analysis, transcript.result())
        finally:  # a caller that stops after the voice answers (a user who leaves) does not wait for Whisper, whose
            # decoding, begun, runs to its end on the worker thread and is dropped
            scribe.shutdown(wait=False, cancel_futures=True)
        self._answer(analysis, reading)
        if not self.voice_models:
            notes.append("No trained model yet: run `make reproduce-speech_probe` to train the first one.")
        yield analysis

    def answer(self, wave: np.ndarray, transcript=None) -> Analysis:
        """Every voice model's answer for a 16 kHz ``wave`` whose transcript is already known (a
        timeline's segments are transcribed together: :mod:`emodemo.serving.timeline`); with no
        ``transcript``, the models that read words are left out. No checks: the caller cut the wave."""
        analysis = Analysis(duration(wave), transcript, {}, {}, str(self.device), [], wave)
        self._answer(
            analysis, [m for m in self.voice_models if transcript is not None or set(self.reads(m)) == {"audio"}]
        )
        return analysis

    def _take_transcript(self, analysis: Analysis, transcript) -> None:
        """The analysis's transcript and its time (the transcript's own: the worker thread that wrote it leaves the
        analysis's timings to the thread that yields it), and a note when Whisper heard nothing or guessed."""
        analysis.timings["transcribe"] = transcript.seconds
        analysis.transcript = transcript
        if not transcript.text.strip():
            analysis.notes.append(
                "No speech was recognised: the words-based models have nothing to read, and the fused "
                "answer leaves the words out."
            )
        elif transcript.guessed():
            analysis.notes.append(
                f"Whisper was unsure of most words (median confidence {transcript.word_confidence():.2f}): if "
                "the clip is not in English, the transcript is a guess (the model knows English only). The "
                "models read no words, as when none are heard: the words-only models' answers mean nothing, "
                "the voice and words models go by the voice, and the fused answer leaves the words out."
            )

    def _answer(self, analysis: Analysis, models: Sequence[LoadedModel]) -> None:
        """Each of ``models``' ranked answer for the analysed wave (and its transcript, if any, with
        no words when Whisper was guessing them: :func:`_as_read`)."""
        from emodemo.serving import words_gate

        words = _as_read(analysis.transcript)
        unheard = []
        for m in sorted(models, key=lambda m: words_gate.gated(m.meta)):  # the words expert answers before
            read = _through_gate(m, analysis, words)
            if read is not words:
                unheard.append(m.name)
            with _timed(analysis.timings, m.name):
                inputs = m.recipe.clip_inputs(analysis.wave, read, m.meta.get("input_spec"))
                inputs = {k: v.to(self.device) for k, v in inputs.items()}
                with torch.inference_mode():
                    output = m.model(**inputs)
                extras = dict(output) if isinstance(output, Mapping) else {"logits": output}
                probs = torch.softmax(extras.pop("logits").float() / temperature(m.meta), dim=-1)[0]  # [C]
            order = torch.argsort(probs, descending=True).tolist()
            analysis.predictions[m.name] = Prediction(
                m.name,
                [(m.labels[i], float(probs[i])) for i in order],
                tuple(m.recipe.MODALITIES),
                {k: v[0].float().cpu().numpy() for k, v in extras.items()},
                unsure_line(m.meta),
                words_gated=read is not words,
            )
        if unheard:
            analysis.notes.append(words_gate.note(unheard))

    def explain(self, analysis: Analysis) -> dict[str, object]:
        """``{model: matplotlib Figure}`` of what each model looked at in the analysed clip (its
        recipe's ``explain``: attention over the words and the sound, what MESM kept, the face
        track of a video); a model that read no words through the words gate and has nothing else to
        draw gets a figure saying so (:data:`GATED_FIGURE_NOTE`); other models without such a view are
        left out."""
        figures = {}
        for m in self.explainable:
            prediction = analysis.predictions.get(m.name)
            if prediction is None or (analysis.wave is None and "face" not in prediction.modalities):
                continue
            try:
                read = _as_read(analysis.transcript)
                figure = m.recipe.explain(
                    prediction.extras,
                    analysis.wave,
                    read.without_words() if prediction.words_gated else read,
                    m.meta.get("input_spec") or {},
                    m.labels,
                    title=m.name,
                )
            except Exception:  # a figure that cannot be drawn must not cost the user the answers
                log.exception("could not draw what %s looked at", m.name)
                continue
            if figure is None and prediction.words_gated:  # the words gate took what it would have drawn
                from emodemo.reports.viz import message_figure

                figure = message_figure(m.name, GATED_FIGURE_NOTE)
            if figure is not None:
                figures[m.name] = figure
        return figures


def _through_gate(m: LoadedModel, analysis: Analysis, words):
    """``words`` (a transcript as read, or None) as model ``m`` reads them: none when it reads through
    the words gate and the words expert, which answered first, heard no emotion in them
    (:mod:`emodemo.serving.words_gate`)."""
    from emodemo.serving.words_gate import EXPERT, gated, hears_no_emotion

    expert = analysis.predictions.get(EXPERT)
    if words is None or not words.text.strip() or expert is None or not gated(m.meta):
        return words
    return words.without_words() if hears_no_emotion(expert.ranking) else words


def unsure_line(meta: Mapping) -> float | None:
    """The checkpoint's "unsure" threshold on its calibrated top probability, if it was chosen."""
    return ((meta.get("calibration") or {}).get("unsure") or {}).get("threshold")


def temperature(meta: Mapping) -> float:
    """The checkpoint's calibration temperature (:mod:`emodemo.training.calibration`); 1 when it has none."""
    return float((meta.get("calibration") or {}).get("temperature", 1.0))


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
