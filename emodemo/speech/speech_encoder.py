"""The Whisper encoder as a frozen speech feature extractor, without 30 s of padding.

Whisper's encoder was trained on 30 s windows: ``AudioEncoder.forward`` insists on 3000 mel
frames, so a 4 s clip would pay for 26 s of silence. The network itself has nothing tied to that
length except a table of positional embeddings, so this module runs the same modules on the
clip's own frames: two convolutions (the second with stride 2, hence 50 states per second), the
first ``T'`` rows of the sinusoidal positional table, the Transformer blocks and the final layer
norm. Clips of different lengths are batched by zero-padding the mel frames and masking the
padded keys in every attention layer, so each clip's states do not depend on its batch mates.

The states are not bit-identical to a 30 s padded run: there, attention also looks at the padded
silence (``tests/test_speech_encoder.py`` measures the cosine similarity).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emodemo.inputs.audio import WHISPER_HOP, log_mel
from emodemo.models.whisper_blocks import run_blocks

MAX_FRAMES = 3000  # 30 s of 10 ms mel frames, the length of the positional table (x2 for stride)


@dataclass
class EncoderOutput:
    """Frame-level Whisper states of a batch of clips (50 states per second of audio).

    ``states``: last layer (after the final layer norm), ``[B, T', d]``; zero where ``mask`` is False.
    ``mask``: ``[B, T']``, True on each clip's real states. ``lengths``: ``[B]`` real states per clip.
    ``layers``: when asked for, ``[B, n_layers + 1, T', d]``: index 0 is the input to the first block
    (convolutions + positions), index i the output of block i, and the last index equals
    ``states`` (the last block's output after the final layer norm, as Hugging Face reports it).
    """

    states: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    layers: torch.Tensor | None = None


class WhisperSpeechEncoder(nn.Module):
    """A frozen Whisper encoder (tiny.en: 4 layers, d = 384) that maps waveforms to frame states.

    Weights come from :func:`emodemo.speech.asr.encoder_model`: the transcriber's when it is
    openai-whisper, else the checkpoint without its decoder. Gradients are off: this is a
    feature extractor; compute its features outside the model being trained.
    """

    def __init__(self, model: str = "tiny.en", whisper_model: nn.Module | None = None):
        super().__init__()
        if whisper_model is None:
            from emodemo.speech.asr import encoder_model

            whisper_model = encoder_model(model)
        self.encoder = whisper_model.encoder
        self.n_mels = whisper_model.dims.n_mels
        self.requires_grad_(False)
        self.eval()

    @property
    def dim(self) -> int:
        return self.encoder.ln_post.normalized_shape[0]

    @property
    def n_layers(self) -> int:
        return len(self.encoder.blocks)

    @property
    def device(self) -> torch.device:
        return self.encoder.conv1.weight.device

    def mel_batch(self, waves: Sequence[np.ndarray | torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Whisper log-mels of 16 kHz waves, zero-padded to the longest: ``([B, n_mels, F], frames [B])``."""
        if len(waves) == 0:
            raise ValueError("expected at least one waveform")
        mels = []
        for wave in waves:
            samples = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave)
            if samples.ndim != 1 or samples.shape[0] < WHISPER_HOP:
                raise ValueError(
                    f"expected 1-D waveforms of at least {WHISPER_HOP} samples (10 ms at 16 kHz), "
                    f"got shape {tuple(samples.shape)}"
                )
            mels.append(log_mel(samples.float().to(self.device), n_mels=self.n_mels))  # [n_mels, F_b]
        frames = torch.tensor([m.shape[-1] for m in mels], device=self.device)
        if int(frames.max()) > MAX_FRAMES:
            raise ValueError(
                f"a clip is {int(frames.max()) / 100:.1f} s long; the Whisper encoder covers at most "
                "30 s: cut longer audio into windows"
            )
        mel = torch.zeros(len(mels), self.n_mels, int(frames.max()), device=self.device)
        for i, m in enumerate(mels):
            mel[i, :, : m.shape[-1]] = m
        return mel, frames

    @torch.no_grad()
    def forward(
        self, mel: torch.Tensor, frames: torch.Tensor | None = None, all_layers: bool = False, blocks: int | None = None
    ) -> EncoderOutput:
        """Encode log-mels ``[B, n_mels, F]`` whose clip b has ``frames[b]`` real frames (default: all F).
        ``blocks`` runs only the first ``blocks`` transformer blocks (for a reader of the lower layers:
        the layers it returns are the full encoder's first ``blocks + 1``, and ``states`` is the last
        block's output without the final layer norm)."""
        batch, _, n_frames = mel.shape
        if frames is None:
            frames = torch.full((batch,), n_frames, device=mel.device)
        frame_mask = torch.arange(n_frames, device=mel.device) < frames[:, None]  # [B, F]
        x = F.gelu(self.encoder.conv1(mel)) * frame_mask[:, None, :]  # [B, d, F]; padding kept at 0,
        x = F.gelu(self.encoder.conv2(x)).transpose(1, 2)  # [B, T', d]  as in a lone clip
        lengths = (frames + 1) // 2  # ceil(F / 2) after stride 2
        mask = torch.arange(x.shape[1], device=mel.device) < lengths[:, None]  # [B, T']
        x = x + self.encoder.positional_embedding[: x.shape[1]].to(x.dtype)
        layers = [x]
        depth = len(self.encoder.blocks) if blocks is None else blocks
        for block in self.encoder.blocks[:depth]:
            x = run_blocks([block], x, mask)
            layers.append(x)
        whole = depth == len(self.encoder.blocks)
        states = (self.encoder.ln_post(x) if whole else x) * mask[..., None]  # [B, T', d]
        stacked = None
        if all_layers:
            layers[-1] = states
            stacked = torch.stack(layers, dim=1) * mask[:, None, :, None]  # [B, L+1, T', d]
        return EncoderOutput(states, mask, lengths, stacked)

    def encode(
        self, waves: Sequence[np.ndarray | torch.Tensor], all_layers: bool = False, blocks: int | None = None
    ) -> EncoderOutput:
        """Frame states of 16 kHz mono waveforms of any lengths up to 30 s (``blocks``: see :meth:`forward`)."""
        mel, frames = self.mel_batch(waves)
        return self(mel, frames, all_layers=all_layers, blocks=blocks)


@functools.lru_cache(maxsize=2)
def frozen_whisper_encoder(model: str = "tiny.en") -> WhisperSpeechEncoder:
    """The frozen Whisper encoder ``model``, loaded once per process and shared by every recipe
    that reads it (the speech probe's statistics, the fusion models' frame states)."""
    return WhisperSpeechEncoder(model)
