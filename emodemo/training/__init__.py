"""Training and what it keeps: the engine (fit, predict, evaluate), datasets, histories, the
cross-validation protocol, calibration, multi-process training, checkpoints with their cards."""
