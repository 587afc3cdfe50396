"""emodemo: an open lab for multimodal emotion recognition from speech, words and faces."""
__version__ = "0.1.0"
