"""The CTranslate2 -> openai-whisper converter: complete mapping, loadable by whisper itself,
word-timing heads carried over, and clear errors for files it cannot read."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from emodemo.weights import assets
from emodemo.weights.whisper_convert import (
    Ct2FormatError,
    convert,
    ct2_to_openai_checkpoint,
    load_openai_whisper,
    read_ct2_variables,
)

whisper = pytest.importorskip("whisper")


@pytest.fixture(scope="module")
def ct2_dir():
    return assets.whisper_ct2("tiny.en").path


@pytest.fixture(scope="module")
def checkpoint_file(ct2_dir, tmp_path_factory):
    return convert(ct2_dir, tmp_path_factory.mktemp("whisper") / "tiny.en.pt")


def test_reader_resolves_aliases_and_shapes(ct2_dir):
    spec, variables = read_ct2_variables(ct2_dir / "model.bin")
    assert spec == "WhisperSpec"
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]
    assert variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert int(variables["encoder/num_heads"]) == 6


def test_checkpoint_matches_openai_whisper_layout_exactly(ct2_dir):
    checkpoint = ct2_to_openai_checkpoint(ct2_dir)
    reference = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"])).state_dict()
    converted = checkpoint["model_state_dict"]
    assert converted.keys() == reference.keys()
    assert all(converted[k].shape == reference[k].shape for k in reference)
    assert checkpoint["dims"]["n_vocab"] == 51864 and checkpoint["dims"]["n_audio_layer"] == 4


def test_whisper_load_model_accepts_the_file(checkpoint_file):
    model = whisper.load_model(str(checkpoint_file), device="cpu")  # torch.load(weights_only=True) inside
    assert model.dims.n_text_state == 384


def test_alignment_heads_equal_openai_whisper_table(checkpoint_file):
    ours = load_openai_whisper(checkpoint_file).alignment_heads.to_dense()
    official = whisper.load_model(str(checkpoint_file), device="cpu")
    official.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny.en"])
    assert torch.equal(ours, official.alignment_heads.to_dense()) and ours.sum() == 8


def _write_header(path, version: int, spec: str):
    name = spec.encode() + b"\0"
    # version, spec name, revision, no variables, no aliases
    path.write_bytes(struct.pack("<I", version) + struct.pack("<H", len(name)) + name + struct.pack("<III", 1, 0, 0))


def test_unknown_binary_version_is_refused(tmp_path):
    _write_header(tmp_path / "model.bin", version=3, spec="WhisperSpec")
    with pytest.raises(Ct2FormatError, match="binary version 3"):
        read_ct2_variables(tmp_path / "model.bin")


def test_truncated_file_is_refused(tmp_path):
    _write_header(tmp_path / "model.bin", version=6, spec="WhisperSpec")
    (tmp_path / "model.bin").write_bytes((tmp_path / "model.bin").read_bytes()[:-6])
    with pytest.raises(Ct2FormatError, match="truncated"):
        read_ct2_variables(tmp_path / "model.bin")


def test_non_whisper_model_is_refused(tmp_path):
    _write_header(tmp_path / "model.bin", version=6, spec="TransformerSpec")
    with pytest.raises(Ct2FormatError, match="not a Whisper model"):
        ct2_to_openai_checkpoint(tmp_path)


def test_encoder_weights_survive_the_conversion(ct2_dir, checkpoint_file):
    _, variables = read_ct2_variables(ct2_dir / "model.bin")
    state = torch.load(checkpoint_file, weights_only=True)["model_state_dict"]
    fused = variables["encoder/layer_2/self_attention/linear_0/weight"]  # [3 * 384, 384] = q; k; v
    np.testing.assert_array_equal(state["encoder.blocks.2.attn.value.weight"].numpy(), fused[768:])
    np.testing.assert_array_equal(
        state["decoder.blocks.1.cross_attn.key.weight"].numpy(),
        variables["decoder/layer_1/attention/linear_1/weight"][:384],
    )
