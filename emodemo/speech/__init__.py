"""Whisper: transcription (and its cache of transcripts, its word error rate) and the frozen speech
encoders whose states the models read."""
