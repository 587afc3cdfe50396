"""The served models: one clip's answers (pipeline, fusion), many files (batch), emotion over time
(timeline, timeline_files, timeline_ray, timeline_eval, live), and served checkpoints scored on
labelled data (evaluation, upload_eval, cross_corpus; the fused answer: fused_eval).

Code outside the package (the app included) imports from here, not from the modules: the names
below, or a module (``from emodemo.serving import cross_corpus``). What a front end needs from the
layers below (the audio error, the label set, reading a span of a long recording) is here too.
"""

from emodemo.core.labels import CANONICAL7
from emodemo.inputs.audio import AudioError, probe_duration
from emodemo.inputs.long_audio import read_span
from emodemo.serving.fused_eval import evaluate_fused, fused_answers
from emodemo.serving.fusion import MODALITY_NAMES, Stacker, canonical_probabilities, fuse
from emodemo.serving.live import EVERY_SECONDS, LiveState, listen
from emodemo.serving.pipeline import (
    CHECKPOINTS,
    ClipError,
    Pipeline,
    discover,
    load_models,
    temperature,
    unsure_line,
    words_left_out,
)
from emodemo.serving.timeline import analyse_recording, recording_limit, smoothed_track
from emodemo.serving.timeline_eval import boundary_errors, joined_recording, score_timeline, truth_of
from emodemo.serving.timeline_files import write_csv
from emodemo.serving.upload_eval import UploadError, evaluate_upload

__all__ = [
    "AudioError",
    "CANONICAL7",
    "CHECKPOINTS",
    "ClipError",
    "EVERY_SECONDS",
    "LiveState",
    "MODALITY_NAMES",
    "Pipeline",
    "Stacker",
    "UploadError",
    "analyse_recording",
    "boundary_errors",
    "canonical_probabilities",
    "discover",
    "evaluate_fused",
    "evaluate_upload",
    "fuse",
    "fused_answers",
    "joined_recording",
    "listen",
    "load_models",
    "probe_duration",
    "read_span",
    "recording_limit",
    "score_timeline",
    "smoothed_track",
    "temperature",
    "truth_of",
    "unsure_line",
    "words_left_out",
    "write_csv",
]
