"""emodemo: an open lab for multimodal emotion recognition from speech, words and faces.

Its folders are layers, from ``core`` (labels, metrics, files) up to ``serving`` (what the app and the
command line call); a module imports only from its own layer and those below (see the README's Layout).
"""

__version__ = "0.1.0"
