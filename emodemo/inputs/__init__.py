"""From files to arrays: audio, long recordings (long_audio), video frames and faces (video), text
encoders (text), hand-crafted features (handcrafted), what differs between corpora removed
(normalise), augmentation (augment), speech segmentation (segmentation).

Code outside the package imports from here, not from the modules; ``normalise`` (the function) has
the name of its module, so it and ``describe`` come from :mod:`emodemo.inputs.normalise`.
"""

from emodemo.inputs.audio import SAMPLE_RATE, AudioError, load_audio, log_mel, mfcc, probe_duration, voiced_bounds
from emodemo.inputs.augment import fixed_draw, robustness_conditions
from emodemo.inputs.handcrafted import clip_features, mid_term_features, short_term_features
from emodemo.inputs.long_audio import read_span
from emodemo.inputs.normalise import estimated_snr_db, floor_spread_db
from emodemo.inputs.segmentation import SegmentOptions, StreamingSegmenter
from emodemo.inputs.text import MINILM, load_text_encoder
from emodemo.inputs.video import detect_faces, face_crops

__all__ = [
    "AudioError",
    "MINILM",
    "SAMPLE_RATE",
    "SegmentOptions",
    "StreamingSegmenter",
    "clip_features",
    "detect_faces",
    "estimated_snr_db",
    "face_crops",
    "floor_spread_db",
    "fixed_draw",
    "load_audio",
    "load_text_encoder",
    "log_mel",
    "mfcc",
    "mid_term_features",
    "probe_duration",
    "read_span",
    "robustness_conditions",
    "short_term_features",
    "voiced_bounds",
]
