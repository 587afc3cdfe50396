"""The served models: one clip's answers (pipeline, fusion), many files (batch), emotion over time
(timeline, live), and scoring served checkpoints on labelled data (evaluation, uploads, other corpora)."""
