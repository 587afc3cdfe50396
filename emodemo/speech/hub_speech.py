"""A speech encoder from the Hugging Face Hub (wav2vec2, HuBERT, WavLM ...) behind the Whisper
encoder's interface, for users who are online.

The talks used such encoders (TRILL, VGGish, wav2vec2, HuBERT); none of their weights can be had
offline here, so the project trains on the Whisper encoder (:mod:`emodemo.speech.speech_encoder`). This
class lets a user with internet swap one in by its ``transformers`` id, e.g.
``--option speech_encoder=facebook/hubert-base-ls960``: :meth:`HubSpeechEncoder.encode` returns the
same :class:`~emodemo.speech.speech_encoder.EncoderOutput` (frame states, mask, lengths, every layer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from emodemo.inputs.audio import SAMPLE_RATE
from emodemo.speech.speech_encoder import EncoderOutput


class HubSpeechEncoder(nn.Module):
    """A frozen ``transformers`` audio encoder loaded by id or folder (``AutoModel``)."""

    def __init__(self, name: str):
        super().__init__()
        from transformers import AutoFeatureExtractor, AutoModel

        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(name)
            self.model = AutoModel.from_pretrained(name)
        except OSError as error:
            raise FileNotFoundError(
                f"cannot load the speech encoder {name!r}: {error}. Offline, use the packaged "
                "Whisper encoder ('whisper-tiny.en'), or a folder holding a saved model"
            ) from None
        self.name = name
        self.requires_grad_(False)
        self.eval()

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @property
    def n_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, waves: Sequence[np.ndarray | torch.Tensor], all_layers: bool = False) -> EncoderOutput:
        """Frame states of 16 kHz mono waveforms (zero-padded to the longest, padding masked)."""
        if len(waves) == 0:
            raise ValueError("expected at least one waveform")
        arrays = [np.asarray(w.cpu() if torch.is_tensor(w) else w, dtype=np.float32) for w in waves]
        inputs = self.extractor(
            arrays, sampling_rate=SAMPLE_RATE, padding=True, return_attention_mask=True, return_tensors="pt"
        ).to(self.device)
        samples = inputs["attention_mask"]  # [B, S] 1 on real samples
        # Models whose extractor does not ask for a mask (wav2vec2-base: group norm) expect zero padding only.
        kwargs = {"attention_mask": samples} if self.extractor.return_attention_mask else {}
        output = self.model(inputs["input_values"], output_hidden_states=True, **kwargs)
        lengths = self.model._get_feat_extract_output_lengths(samples.sum(dim=1)).long()  # [B]
        frames = output.last_hidden_state.shape[1]
        mask = torch.arange(frames, device=lengths.device) < lengths[:, None]  # [B, T']
        states = output.last_hidden_state * mask[..., None]  # [B, T', d]
        layers = torch.stack(output.hidden_states, dim=1) * mask[:, None, :, None] if all_layers else None
        return EncoderOutput(states, mask, lengths, layers)
