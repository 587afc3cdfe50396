"""Give a trained checkpoint the noise gate for noisy clips (``denoise_below_db``) without retraining it.

The gate (:func:`emodemo.inputs.normalise.gated`) changes only the clips whose estimated SNR is under
the threshold. When none of a checkpoint's training and validation clips is, training it with the
setting would have fed it exactly the same inputs, so the setting can be written into the checkpoint
afterwards (``python -m emodemo gate MODEL --below 30 --root PATH``); the app and the harness then
gate a user's noisy clip as training would have. When some of them are, the checkpoint must be
trained again with ``--option denoise_below_db=...``, and this refuses.

``--steady-below DB`` adds the steady-floor test (``steady_floor_below_db``: a clip is gated only when its
quietest frames are evenly quiet too, :func:`emodemo.inputs.normalise.floor_spread_db`), to a new gate or to
one already set at the same threshold: it only ever gates fewer clips, so the same check holds.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

SETTING = "denoise_below_db"
STEADY = "steady_floor_below_db"


def set_noise_gate(
    model: str | Path,
    below_db: float,
    root: str | Path,
    dataset: str = "ravdess",
    steady_below_db: float | None = None,
) -> dict[str, Any]:
    """Write ``denoise_below_db = below_db`` (and ``steady_floor_below_db = steady_below_db``) into
    checkpoint ``model`` (a name under checkpoints/ or a folder) after checking that none of its
    training and validation speakers' clips of ``dataset`` (under ``root``) would be gated; refused
    for a checkpoint trained on augmented copies, or already gated otherwise than at ``below_db``
    without the steady-floor test (which ``steady_below_db`` then adds). Returns ``{"checkpoint",
    "clips_checked", "below_db", "steady_below_db", "ungated_folds"}`` (its fold models under
    ``folds/`` not gated the same way yet: the harness matches fold models by their inputs, so they
    must be gated too)."""
    from emodemo import data
    from emodemo.inputs.audio import MAX_SECONDS, load_audio
    from emodemo.inputs.normalise import noisy_files
    from emodemo.recipes import get_recipe
    from emodemo.serving.pipeline import CHECKPOINTS
    from emodemo.training.checkpoint import read_checkpoint_config, set_input_setting

    if not all(math.isfinite(v) for v in (below_db, steady_below_db) if v is not None):
        raise ValueError(f"the gate's thresholds must be numbers of dB, not {below_db}, {steady_below_db}")
    folder = Path(model) if Path(model).is_dir() else CHECKPOINTS / str(model)
    config = read_checkpoint_config(folder)
    if SETTING not in inspect.signature(get_recipe(config["model_name"]).train).parameters:
        raise ValueError(f"{config['model_name']} has no {SETTING} input setting: its inputs cannot be gated")
    spec = config.get("input_spec") or {}
    adds_steady = (
        steady_below_db is not None and spec.get(SETTING) == float(below_db) and spec.get(STEADY) is None
    )  # narrowing a gate already set: it gates fewer clips
    if spec.get("denoise") or (spec.get(SETTING) is not None and not adds_steady):
        raise ValueError(f"{folder} already hears its inputs gated ({spec}): train it again to change that")
    card = config.get("data_card") or {}
    if card.get("augmentation") not in (None, "none"):
        raise ValueError(
            f"{folder} trained on augmented copies too ({card['augmentation']}), which this check does not "
            f"read: train it again with --option {SETTING}={below_db:g}"
        )
    speakers = set(card.get("train_speakers", [])) | set(card.get("validation_speakers", []))
    if not speakers:
        raise ValueError(f"{folder} names no training speakers in its card: its inputs cannot be checked")
    samples = [s for s in data.load(dataset, root) if s.speaker in speakers and s.audio is not None]
    if not samples:
        raise ValueError(f"{root} holds none of {folder}'s training speakers")
    # adding the steady test to a gate it trained with: no clip may have been gated in training either,
    # or the narrower gate would hear such a clip plain where training heard it denoised
    noisy = noisy_files(
        [s.audio for s in samples],
        below_db,
        lambda paths: [load_audio(p, max_seconds=MAX_SECONDS) for p in paths],
        steady_below_db=None if adds_steady else steady_below_db,
    )
    if any(noisy):
        raise ValueError(
            f"{sum(noisy)} of {folder}'s {len(samples)} training and validation clips would be gated (estimated SNR "
            f"under {below_db:g} dB): the setting would change what it trained on; train it again with the setting"
        )
    if not adds_steady:
        set_input_setting(
            folder,
            SETTING,
            float(below_db),
            f"a clip under {below_db:g} dB estimated SNR has its stationary noise gated out first (noisereduce; set "
            f"after training: none of its {len(samples)} training and validation clips is under it)",
        )
    if steady_below_db is not None:
        set_input_setting(
            folder,
            STEADY,
            float(steady_below_db),
            f"gated only when its noise floor is steady too (the quietest frames' levels within "
            f"{steady_below_db:g} dB; set after training, {len(samples)} clips checked)",
        )
    gate = {SETTING: float(below_db), STEADY: None if steady_below_db is None else float(steady_below_db)}
    ungated = sorted(
        str(p.parent)
        for p in (folder / "folds").glob("*/config.json")
        if any((read_checkpoint_config(p.parent).get("input_spec") or {}).get(k) != v for k, v in gate.items())
    )
    return {
        "checkpoint": str(folder),
        "clips_checked": len(samples),
        "below_db": float(below_db),
        "steady_below_db": gate[STEADY],
        "ungated_folds": ungated,
    }
