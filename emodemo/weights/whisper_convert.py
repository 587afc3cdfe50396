"""Turn a CTranslate2 Whisper model (faster-whisper's format) into an openai-whisper checkpoint.

Both engines run the same network; only the file differs. CTranslate2's ``model.bin`` is a flat
little-endian binary file (what ``ctranslate2.specs.ModelSpec._serialize`` writes, binary
version 6)::

    uint32 version, string spec_name, uint32 revision, uint32 n_variables,
    n_variables x (string name, uint8 rank, rank x uint32 dim, uint8 dtype_id,
                   uint32 n_bytes, n_bytes of row-major data),
    uint32 n_aliases, n_aliases x (string alias, string target)

where a ``string`` is ``uint16 length-including-NUL``, the UTF-8 bytes, then a NUL byte. Scalars
(rank 0) hold configuration flags such as ``encoder/num_heads``.

openai-whisper loads a ``torch.save``-d dict ``{"dims": {...}, "model_state_dict": {...}}``
(``whisper.load_model(path)``, which reads it with ``weights_only=True``). The name mapping is
mechanical, with two twists: CTranslate2 fuses the self-attention projections into one matrix
(query, key and value stacked on the output axis) and the cross-attention key/value into another,
and openai-whisper's key projection has no bias (CTranslate2 stores a zero one).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import torch

from emodemo.core.files import write_atomically

SUPPORTED_BINARY_VERSION = 6
# CTranslate2's dtype ids, in the order of ``model_spec._dtype_to_type_id``.
_CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
# Rank-0 configuration flags that have no openai-whisper parameter (the layout is fixed there).
_CONFIG_FLAGS = {
    "activation",
    "alibi",
    "alignment_heads",
    "alignment_layer",
    "num_heads",
    "pre_norm",
    "scale_embeddings",
    "start_from_zero_embedding",
}


class Ct2FormatError(ValueError):
    """The file is not a CTranslate2 Whisper model this reader understands."""


def read_ct2_variables(model_bin: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """Read every variable of a CTranslate2 ``model.bin``: ``(spec_name, {name: array})``.

    Aliases (``decoder/projection/weight`` -> the embedding matrix) are resolved to the same array.
    bfloat16 is widened to float32; other dtypes keep their type.
    """
    data = memoryview(bytearray(Path(model_bin).read_bytes()))  # writable: arrays become tensors
    offset = 0

    def take(fmt: str):
        nonlocal offset
        try:
            values = struct.unpack_from("<" + fmt, data, offset)
        except struct.error as error:
            raise Ct2FormatError(f"{model_bin} is truncated or not a CTranslate2 model.bin") from error
        offset += struct.calcsize("<" + fmt)
        return values[0]

    def take_string() -> str:
        nonlocal offset
        length = take("H")
        text = bytes(data[offset : offset + length - 1]).decode("utf-8")
        offset += length
        return text

    version = take("I")
    if version != SUPPORTED_BINARY_VERSION:
        raise Ct2FormatError(
            f"{model_bin}: CTranslate2 binary version {version}; this reader knows "
            f"version {SUPPORTED_BINARY_VERSION} (re-convert with ctranslate2>=3)"
        )
    spec_name = take_string()
    take("I")  # spec revision: the Whisper layout below has not changed across revisions
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = take_string()
        shape = tuple(take("I") for _ in range(take("B")))
        dtype = _CT2_DTYPES[take("B")]
        n_bytes = take("I")
        raw = data[offset : offset + n_bytes]
        offset += n_bytes
        if len(raw) != n_bytes:
            raise Ct2FormatError(f"{model_bin} is truncated or not a CTranslate2 model.bin")
        if dtype == "bfloat16":  # the high half of a float32
            array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
        variables[name] = array.reshape(shape)
    for _ in range(take("I")):
        alias, target = take_string(), take_string()
        variables[alias] = variables[target]
    return spec_name, variables


def _split_fused(weight: np.ndarray, bias: np.ndarray, parts: int):
    """Split a fused projection ([parts*d, d] weight, [parts*d] bias) into ``parts`` pairs."""
    return list(zip(np.split(weight, parts), np.split(bias, parts)))


class _StateDictBuilder:
    """Copies CTranslate2 variables into openai-whisper names, remembering which were used."""

    def __init__(self, variables: dict[str, np.ndarray]):
        self.variables = variables
        self.used: set[str] = set()
        self.state: dict[str, torch.Tensor] = {}

    def take(self, name: str) -> np.ndarray:
        self.used.add(name)
        return self.variables[name]

    def put(self, name: str, array: np.ndarray) -> None:
        self.state[name] = torch.from_numpy(np.ascontiguousarray(array))

    def linear(self, dst: str, src: str, bias: bool = True) -> None:
        self.put(f"{dst}.weight", self.take(f"{src}/weight"))
        if bias:
            self.put(f"{dst}.bias", self.take(f"{src}/bias"))

    def layer_norm(self, dst: str, src: str) -> None:
        self.put(f"{dst}.weight", self.take(f"{src}/gamma"))
        self.put(f"{dst}.bias", self.take(f"{src}/beta"))

    def fused(self, dsts: list[str], src: str) -> None:
        """Unfuse stacked projections; openai-whisper's ``key`` has no bias, so it must be zero."""
        pieces = _split_fused(self.take(f"{src}/weight"), self.take(f"{src}/bias"), len(dsts))
        for dst, (weight, bias) in zip(dsts, pieces):
            self.put(f"{dst}.weight", weight)
            if dst.endswith(".key"):
                if np.any(bias != 0):
                    raise Ct2FormatError(f"{src}: non-zero key bias, which openai-whisper cannot hold")
            else:
                self.put(f"{dst}.bias", bias)

    def block(self, dst: str, src: str, cross: bool) -> None:
        """One residual attention block (pre-norm self-attention, [cross-attention], MLP)."""
        self.layer_norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        self.fused([f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"], f"{src}/self_attention/linear_0")
        self.linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        if cross:
            self.layer_norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
            self.linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
            self.fused([f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"], f"{src}/attention/linear_1")
            self.linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        self.layer_norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        self.linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        self.linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")

    def unused(self) -> list[str]:
        """Tensor variables nothing was mapped from (config flags and the tied projection aside)."""
        return sorted(
            name
            for name in self.variables
            if name not in self.used
            and name != "decoder/projection/weight"
            and name.rsplit("/", 1)[-1] not in _CONFIG_FLAGS
        )


def _count_layers(variables: dict[str, np.ndarray], stack: str) -> int:
    return len({match[1] for name in variables if (match := re.match(rf"{stack}/layer_(\d+)/", name))})


def ct2_to_openai_checkpoint(model_dir: str | Path) -> dict:
    """Build the openai-whisper checkpoint dict from a faster-whisper model folder.

    Returns ``{"dims": {...}, "model_state_dict": {...}, "alignment_heads": [[layer, head], ...]}``;
    the last key (the cross-attention heads that track word timing, from the folder's
    ``config.json``) is ignored by ``whisper.load_model`` and used by :func:`load_openai_whisper`.
    """
    model_dir = Path(model_dir)
    spec_name, variables = read_ct2_variables(model_dir / "model.bin")
    if spec_name != "WhisperSpec":
        raise Ct2FormatError(f"{model_dir}: a CTranslate2 {spec_name}, not a Whisper model")
    quantized = sorted(n for n, a in variables.items() if a.ndim == 2 and a.dtype.kind == "i")
    if quantized:
        raise Ct2FormatError(
            f"{model_dir}: integer-quantized weights ({quantized[0]}, ...); convert the "
            "model with --quantization float16 or float32 instead"
        )

    n_enc, n_dec = _count_layers(variables, "encoder"), _count_layers(variables, "decoder")
    out = _StateDictBuilder(variables)
    out.linear("encoder.conv1", "encoder/conv1")
    out.linear("encoder.conv2", "encoder/conv2")
    out.put("encoder.positional_embedding", out.take("encoder/position_encodings/encodings"))
    for i in range(n_enc):
        out.block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    out.layer_norm("encoder.ln_post", "encoder/layer_norm")
    out.put("decoder.token_embedding.weight", out.take("decoder/embeddings/weight"))
    out.put("decoder.positional_embedding", out.take("decoder/position_encodings/encodings"))
    for i in range(n_dec):
        out.block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    out.layer_norm("decoder.ln", "decoder/layer_norm")
    if out.unused():
        raise Ct2FormatError(f"{model_dir}: variables with no openai-whisper counterpart: {out.unused()}")

    conv1 = variables["encoder/conv1/weight"]  # [d_audio, n_mels, 3]
    audio_pos = variables["encoder/position_encodings/encodings"]  # [1500, d_audio]
    text_pos = variables["decoder/position_encodings/encodings"]  # [448, d_text]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_pos.shape[0]),
        "n_audio_state": int(audio_pos.shape[1]),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": n_enc,
        "n_vocab": int(variables["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(text_pos.shape[0]),
        "n_text_state": int(text_pos.shape[1]),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": n_dec,
    }
    config = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    heads = [[int(layer), int(head)] for layer, head in config.get("alignment_heads", [])]
    return {"dims": dims, "model_state_dict": out.state, "alignment_heads": heads}


def convert(model_dir: str | Path, checkpoint_path: str | Path) -> Path:
    """Write the openai-whisper checkpoint of a faster-whisper folder (atomically) and return its path."""
    checkpoint = ct2_to_openai_checkpoint(model_dir)
    return write_atomically(checkpoint_path, lambda temporary: torch.save(checkpoint, temporary))


def load_openai_whisper(checkpoint_path: str | Path, name: str | None = None, device: str = "cpu"):
    """Load an openai-whisper model from a checkpoint file, word-timing heads included.

    The heads come from the checkpoint's ``alignment_heads`` (written by :func:`convert`), else from
    openai-whisper's table for the official ``name`` (an official ``tiny.en.pt`` lacks the key),
    else openai-whisper's default (all heads of the upper half of the decoder).
    """
    import whisper

    checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=True)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])
    heads = checkpoint.get("alignment_heads")
    if heads:
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    elif name in whisper._ALIGNMENT_HEADS:
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    return model.to(device).eval()
