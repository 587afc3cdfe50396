"""Whisper: transcription (asr), the cache of transcripts (transcripts), the word error rate (wer), and
the frozen speech encoders whose states the models read (speech_encoder, hub_speech).

Code outside the package imports from here, not from the modules.
"""

from emodemo.speech.asr import Transcript, Word, load_model, transcribe
from emodemo.speech.speech_encoder import WhisperSpeechEncoder, frozen_whisper_encoder
from emodemo.speech.transcripts import transcribe_samples, words_read
from emodemo.speech.wer import normalise, word_error_rate

__all__ = [
    "Transcript",
    "WhisperSpeechEncoder",
    "Word",
    "frozen_whisper_encoder",
    "load_model",
    "normalise",
    "transcribe",
    "transcribe_samples",
    "word_error_rate",
    "words_read",
]
