"""Checkpoints that are safe to download: weights as safetensors, everything else as JSON.

A checkpoint folder holds

- ``model.safetensors``: the state dict (raw tensors; reading it cannot run code, unlike pickle);
- ``config.json``: the model's name and constructor arguments, the label list, a data card (what it
  was trained on, under which licence), the training config, the metrics (with confusion matrix),
  library versions and the creation date;
- ``MODEL_CARD.md``: the same metadata written for people.

:func:`load_checkpoint` rebuilds the model by looking its name up in a ``registry`` the caller
passes (name -> constructor), calls it with the JSON arguments, and fills in the weights. Nothing
in the folder is ever imported, unpickled or executed; a name outside the registry is refused.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_file, save_model
from torch import nn

from emodemo import __version__
from emodemo.protocols.pairing import learnt_no_words
from emodemo.training.distributed import is_main_process

WORDS_GATE_NOTE = (
    "words gate: it learnt to read clips with no words, so the app and every score of it give it none when "
    "the app's words expert hears no emotion in the words (its top answer is neutral), and the voice decides "
    "(emodemo.serving.words_gate)"
)

FORMAT = "emodemo-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "MODEL_CARD.md"


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _as_dict(train_cfg: Any) -> dict[str, Any] | None:
    if train_cfg is None or isinstance(train_cfg, Mapping):
        return None if train_cfg is None else dict(train_cfg)
    if dataclasses.is_dataclass(train_cfg):
        return dataclasses.asdict(train_cfg)
    raise TypeError(f"train_cfg must be a dataclass (TrainConfig), a dict or None, got {type(train_cfg).__name__}")


def save_checkpoint(
    directory: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    labels: Sequence[str],
    data_card: Mapping[str, Any],
    metrics: Mapping[str, Any],
    train_cfg: Any = None,
    input_spec: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
    half: bool = False,
) -> Path | None:
    """Write ``model.safetensors``, ``config.json`` and ``MODEL_CARD.md`` into ``directory``.

    ``model_kwargs`` must be JSON data: they are what ``registry[model_name](**model_kwargs)`` gets
    back at load time. ``data_card`` describes the training data and must state its ``licence``
    (e.g. ``{"dataset": "RAVDESS speech", "split": "train actors 01-18, val 19-20", "licence":
    "CC BY-NC-SA 4.0"}``). ``metrics`` is a report from :mod:`emodemo.core.metrics` or a dict of named
    reports (``{"test (actors 21-24)": report, "5-fold CV": mean_std(...)}``). ``input_spec`` is
    what the recipe needs to turn data into the model's inputs exactly as in training (e.g. a
    vocabulary), JSON data. ``calibration`` holds what turns logits into honest probabilities
    (``{"temperature": T, "fitted_on": [validation speakers], "unsure": {"threshold", ...}}``,
    :mod:`emodemo.training.calibration`); the app divides the logits by T.

    ``half=True`` stores floating-point weights as fp16 (half the file; they load back into the
    model's own dtype, fp32, with ~1e-3 relative rounding).

    Under ``torchrun`` only rank 0 writes; the other processes return ``None`` straight away.
    Returns the folder.
    """
    if not is_main_process():
        return None
    if not any(key in data_card for key in ("licence", "license")):
        raise ValueError(
            "data_card must state the training data's licence (a 'licence' entry): "
            "whoever reuses the weights inherits its terms"
        )
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "model_kwargs": dict(model_kwargs),
        "labels": [str(label) for label in labels],
        "data_card": dict(data_card),
        "input_spec": None if input_spec is None else dict(input_spec),
        "calibration": None if calibration is None else dict(calibration),
        "metrics": dict(metrics),
        "train_config": _as_dict(train_cfg),
        "parameters": {
            "total": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        },
        "weights_dtype": "float16" if half else "float32",
        "emodemo_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        text = json.dumps(config, indent=2, default=_json_default)
    except TypeError as error:
        raise TypeError(f"checkpoint metadata must be JSON data (numbers, strings, lists, dicts): {error}") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if half:
        state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    else:
        save_model(model, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    (directory / CONFIG_FILE).write_text(text + "\n", encoding="utf-8")
    (directory / CARD_FILE).write_text(model_card(json.loads(text)), encoding="utf-8")
    return directory


def read_checkpoint_config(directory: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint folder (its ``config.json``), checked to be one of ours."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {Path(directory)}: not an emodemo checkpoint folder")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f'{path} is not an emodemo checkpoint config (no "format": "{FORMAT}")')
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {config['format_version']}; this emodemo reads up to "
            f"{FORMAT_VERSION}: upgrade emodemo"
        )
    return config


def load_checkpoint(
    directory: str | Path, registry: Mapping[str, Callable[..., nn.Module]], *, device: str | torch.device | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved model: ``registry[model_name](**model_kwargs)``, then its safetensors weights.

    Returns ``(model, meta)`` with the model in eval mode on ``device`` (default CPU) and ``meta`` the parsed
    ``config.json`` (labels, metrics, data card ...). Only names present in ``registry`` are
    accepted, and only ``config.json`` and ``model.safetensors`` are read.
    """
    directory = Path(directory)
    meta = read_checkpoint_config(directory)
    name, kwargs = meta.get("model_name"), meta.get("model_kwargs")
    if not isinstance(name, str) or name not in registry:
        raise ValueError(
            f"checkpoint {directory} asks for model {name!r}, which is not in the registry "
            f"{sorted(registry)}; only registered constructors are ever called"
        )
    if not isinstance(kwargs, dict):
        raise ValueError(
            f"model_kwargs in {directory / CONFIG_FILE} must be a JSON object, got {type(kwargs).__name__}"
        )
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in {directory}")
    device = torch.device(device or "cpu")
    model = registry[name](**kwargs)
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(device))
    except SafetensorError as error:
        raise ValueError(f"{weights} is not a valid safetensors file ({error})") from None
    except RuntimeError as error:  # tensor shapes differ from the constructed model's
        raise ValueError(f"{weights} does not fit {name}({kwargs}): {error}") from None
    if missing or unexpected:
        raise ValueError(
            f"{weights} does not fit {name}({kwargs}): missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    return model.to(device).eval(), meta


# ----------------------------------------------------------------------------- model card


def _format_number(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) >= {"mean", "std"}:
        return f"{value['mean']:.4f} ± {value['std']:.4f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _is_number_or_mean_std(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
        isinstance(value, Mapping) and set(value) >= {"mean", "std"}
    )


def attach_cross_validation(
    directory: str | Path,
    results: str | Path,
    keys: Sequence[str] = ("cross_validation", "chance", "per_emotion", "by_pairing"),
) -> dict:
    """Add an earlier cross-validation run of the same variant (``train --cv --results FILE``) to a
    final checkpoint's metrics and card, when the final model was trained first. The results file
    must name the same ``variant`` and ``pairing`` as the checkpoint; its ``keys`` present are
    copied (folds stay in the file), and ``cross_validation_from`` names it. Returns the config."""
    directory, results = Path(directory), Path(results)
    config = read_checkpoint_config(directory)
    earlier = json.loads(results.read_text(encoding="utf-8"))
    mine = config["metrics"]
    for key in ("variant", "pairing"):
        if key in mine and earlier.get(key) != mine[key]:
            raise ValueError(f"{results.name} holds {key} {earlier.get(key)!r}, this checkpoint {mine[key]!r}")
    if "cross_validation" not in earlier:
        raise ValueError(f"{results.name} holds no cross-validation result")
    return add_metrics(
        directory,
        {**{key: earlier[key] for key in keys if key in earlier}, "cross_validation_from": results.name},
        overwrite=True,
    )


def set_calibration(directory: str | Path, calibration: Mapping[str, Any]) -> dict:
    """Give a saved checkpoint its ``calibration`` (see :func:`save_checkpoint`), its ``config.json``
    and card rewritten. Returns the config."""
    directory = Path(directory)
    config = read_checkpoint_config(directory)
    config["calibration"] = json.loads(json.dumps(dict(calibration), default=_json_default))
    return _write_config(directory, config)


def set_input_setting(directory: str | Path, key: str, value: Any, inputs_note: str) -> dict:
    """Give a saved checkpoint the input setting ``key`` (its ``input_spec``, read in training and
    serving alike) and say so in its card's inputs line (``inputs_note`` appended); its
    ``config.json`` and card rewritten. Only for a setting that changes none of the inputs the
    checkpoint trained on (the caller checks). Returns the config."""
    directory = Path(directory)
    config = read_checkpoint_config(directory)
    config["input_spec"] = {**(config.get("input_spec") or {}), key: value}
    card = config.setdefault("data_card", {})
    card["inputs"] = f"{card['inputs']}; {inputs_note}" if card.get("inputs") else inputs_note
    return _write_config(directory, config)


def rewrite_checkpoint(directory: str | Path, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> dict:
    """Give a saved checkpoint a new ``config`` and state dict ``tensors`` (each as the file holds it), its card
    rewritten: for a change that keeps what the model computes (a vocabulary re-indexed). Returns the config."""
    directory = Path(directory)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    return _write_config(directory, dict(config))


def _write_config(directory: Path, config: dict) -> dict:
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (directory / CARD_FILE).write_text(model_card(config), encoding="utf-8")
    return config


def add_metrics(directory: str | Path, metrics: Mapping[str, Any], overwrite: bool = False) -> dict:
    """Add named entries (reports, settings) to a checkpoint's metrics, its ``config.json`` and
    card rewritten; unless ``overwrite``, an entry already there is refused (a test split is scored
    once). Returns the config."""
    directory = Path(directory)
    config = read_checkpoint_config(directory)
    already = sorted(set(metrics) & set(config["metrics"]))
    if already and not overwrite:
        raise ValueError(f"{directory} already holds {already}: a checkpoint's scores are written once")
    config["metrics"].update(json.loads(json.dumps(metrics, default=_json_default)))
    return _write_config(directory, config)


def confusion_matrix_text(cm: Sequence[Sequence[float]], labels: Sequence[str]) -> str:
    """A fixed-width confusion matrix: rows are true classes, columns predictions."""
    corner = "true \\ pred"
    width = max(len(corner), *(len(label) for label in labels))
    cell = max(6, *(len(label) for label in labels), *(len(str(v)) for row in cm for v in row)) + 1
    lines = [corner.ljust(width) + "".join(label.rjust(cell) for label in labels)]
    lines += [label.ljust(width) + "".join(str(v).rjust(cell) for v in row) for label, row in zip(labels, cm)]
    return "\n".join(lines)


def _report_markdown(title: str, report: Mapping[str, Any]) -> list[str]:
    lines = [f"### {title}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_format_number(value)} |" for key, value in report.items() if _is_number_or_mean_std(value)]
    per_class = report.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        columns = list(next(iter(per_class.values())))
        lines += ["", "| class | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [
            f"| {label} | " + " | ".join(_format_number(scores.get(c)) for c in columns) + " |"
            for label, scores in per_class.items()
        ]
    if "confusion_matrix" in report and "labels" in report:
        lines += [
            "",
            "Confusion matrix (rows: true class, columns: prediction):",
            "",
            "```",
            confusion_matrix_text(report["confusion_matrix"], report["labels"]),
            "```",
        ]
    return lines + [""]


def model_card(meta: Mapping[str, Any]) -> str:
    """A Markdown model card from checkpoint metadata (what :func:`save_checkpoint` writes)."""
    metrics = meta.get("metrics") or {}
    reports = {"Metrics": metrics} if "labels" in metrics else metrics
    parameters = meta.get("parameters", {})
    lines = [
        f"# {meta['model_name']}",
        "",
        f"Created {meta.get('created', '?')} with emodemo {meta.get('emodemo_version', '?')} "
        f"and torch {meta.get('torch_version', '?')}.",
        "",
        "## Model",
        "",
        f"- constructor: `{meta['model_name']}(**{json.dumps(meta.get('model_kwargs', {}))})`",
        f"- parameters: {parameters.get('total', '?')} ({parameters.get('trainable', '?')} trainable)",
        f"- labels: {', '.join(meta.get('labels', []))}",
        "",
        "## Training data",
        "",
        *[f"- {key}: {value}" for key, value in meta.get("data_card", {}).items()],
        "",
    ]
    if learnt_no_words((meta.get("data_card") or {}).get("pairing")):
        lines += ["## Serving", "", f"- {WORDS_GATE_NOTE}", ""]
    if meta.get("calibration"):
        cal = meta["calibration"]
        unsure = cal.get("unsure") or {}
        lines += [
            "## Calibration",
            "",
            f"- temperature {cal['temperature']:.3f}, fitted on held-out data: {', '.join(cal.get('fitted_on', []))} "
            "(the app divides the logits by it)",
        ]
        if cal.get("perturbed"):
            weighed = (
                f", the clean clips weighing {cal['clean_share']:.0%} of the fit" if cal.get("clean_share") else ""
            )
            lines.append(f"- the temperature was fitted on those clips and on {cal['perturbed']} too{weighed}")
        if "ece_before" in cal:
            lines.append(
                f"- expected calibration error (top label, 15 bins) on that data: {cal['ece_before']:.3f} "
                f"before, {cal['ece_after']:.3f} after"
                + (
                    f"; on the changed clips {cal['ece_perturbed_before']:.3f} before, "
                    f"{cal['ece_perturbed_after']:.3f} after"
                    if cal.get("perturbed")
                    else ""
                )
            )
        if unsure:
            lines.append(
                f'- answers below a confidence of {unsure["threshold"]:.3f} are shown as "unsure": on that '
                f"data, {100 * unsure['answered']:.0f} % of the inputs are answered, right "
                f"{100 * unsure['accuracy_answered']:.0f} % of the time"
            )
        lines.append("")
    if meta.get("train_config"):
        lines += ["## Training configuration", "", "```json", json.dumps(meta["train_config"], indent=2), "```", ""]
    lines += ["## Evaluation", ""]
    reports = dict(_flattened(reports))
    tables = {title: _scores_of(report) for title, report in reports.items()}
    settings = [
        f"- {title}: {report}"
        for title, report in reports.items()
        if tables[title] is None and len(str(report)) <= _SETTING_CHARS
    ]
    lines += settings + ([""] if settings else [])
    for title, table in tables.items():
        if table is not None:
            lines += _report_markdown(title, table)
    return "\n".join(lines)


_SETTING_CHARS = 400  # a longer non-score entry (a training history) stays in config.json only


def _flattened(reports: Mapping[str, Any]):
    """``(title, report)`` pairs, a group of named reports (``{"constructed": report, "real":
    report}``, e.g. scores per pairing) opened into ``"<title>: <name>"`` entries."""
    for title, report in reports.items():
        if (
            isinstance(report, Mapping)
            and report
            and _scores_of(report) is None
            and all(_scores_of(part) is not None for part in report.values())
        ):
            yield from ((f"{title}: {name}", part) for name, part in report.items())
        else:
            yield title, report


def _scores_of(report: Any) -> Mapping[str, Any] | None:
    """The scores a card draws as a table (a ``{"summary", "folds"}`` result gives its summary),
    or None for a setting such as the pairing or the variant, which the card lists as one line
    when it is short."""
    if isinstance(report, Mapping) and isinstance(report.get("summary"), Mapping):
        report = report["summary"]
    if isinstance(report, Mapping) and any(_is_number_or_mean_std(v) for v in report.values()):
        return report
    return None
