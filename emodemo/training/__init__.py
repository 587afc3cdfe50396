"""Training and what it keeps: the engine (engine: fit, predict, evaluate), its datasets (datasets)
and records (history), the cross-validation protocol (experiment), calibration, multi-process
training (distributed), checkpoints with their cards (checkpoint).

Code outside the package imports from here, not from the modules.
"""

from emodemo.training.calibration import softmax
from emodemo.training.checkpoint import add_metrics, attach_cross_validation, load_checkpoint, read_checkpoint_config
from emodemo.training.engine import TrainConfig, fit, predict
from emodemo.training.experiment import cross_validate, standard_protocol

__all__ = [
    "TrainConfig",
    "add_metrics",
    "attach_cross_validation",
    "cross_validate",
    "fit",
    "load_checkpoint",
    "predict",
    "read_checkpoint_config",
    "softmax",
    "standard_protocol",
]
