"""Talk 000: emotion recognition as neural machine translation, with the talk's two proposed fixes.

The words are the "decoder" (main modality) and the sound the "encoder" (auxiliary modality):
each word's GRU state ``h_t`` attends over the audio GRU states ``h̄_s`` (see
:mod:`emodemo.models.attention` for the score, align and context equations), is combined with what
it found into Luong's attentional state ``h̃_t = tanh(W_c [c_t; h_t])``, and the attentional
states of the real words are pooled and classified.

* **Audio branch** (:class:`WaveformEncoder`): convolutions on the raw 16 kHz waveform, end to
  end as in the talk. Six valid (unpadded) convolutions with ReLU: a wide first one, kernel 80
  (5 ms, a learned filterbank) with stride 10, then kernels ``(3, 3, 3, 3, 2)`` with stride 2
  (the wav2vec 2.0 pattern). Total stride 320 samples = 20 ms, so 50 states per second, the rate
  of Whisper's encoder and of its word timestamps; each state sees 540 samples (33.75 ms,
  :data:`RECEPTIVE_FIELD`), one pitch period down to 30 Hz. A LayerNorm over the channels of
  each state, then a bidirectional GRU. (Normalising after every convolution, as wav2vec 2.0
  does, doubled the cost of this branch on a CPU; Kaiming initialisation keeps the scale instead.)
  Or (``speech_layers``, :class:`StateEncoder`) a frozen speech encoder's states in place of the
  convolutions: a learned mix of Whisper base's lower layers, each layer normalised, at the same
  50 states per second (Whisper's 20 ms frames), then the same GRU. Trained from scratch on 1,200
  RAVDESS clips, the convolutions learn the actors' voices and do not carry to new ones; the
  pre-trained states do (issue 20).
* **Text branch** (:class:`TextEncoder`): word embeddings initialised with GloVe
  (:meth:`NMTAttention.load_embedding`), trainable or frozen, then a bidirectional GRU.
* **Alignment** (the talk's diagnosis: the multimodal model overfits because global attention
  must learn an N×M alignment from a few thousand clips; its proposed fixes are the last two):
  ``"global"`` (every frame, as in the talk), ``"local"`` (Luong local-m: a window of 2w+1
  frames around a position moving evenly through the real audio) and ``"forced"`` (each word
  sees only the frames where ASR says it is spoken, ``word_frames`` from
  :func:`word_spans_to_frames`).
* **Modes**: ``"fusion"`` is the model above; ``"audio"`` and ``"text"`` keep one branch, pool
  its GRU states and classify: the unimodal baselines the talk compares with (accuracy on IEMOCAP: audio
  52.7 %, text 62.5 %, fusion 61 %).

Pooling is statistical (mean and standard deviation over the real steps,
:func:`~emodemo.models.layers.masked_mean_std`), the same in every mode: parameter-free, so it
adds nothing that could overfit, and the spread over words or frames carries information a mean
alone loses. Only the modules a mode uses are built (an audio-only checkpoint holds no word
vectors, and every parameter gets a gradient in every step, which DDP expects).

Padding never changes a result: waveforms are standardised over their real samples only, the
convolutions are unpadded and normalised per state (so a state depends only on its own 540
samples, and the states of real audio are the same however much silence pads the batch), the
GRUs read only the real steps (:class:`MaskedGRU`), and every softmax and pooling is masked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .attention import SCORES, global_attention, length_mask, local_attention, make_score, monotonic_centres, span_mask
from .ensemble import FoldMean
from .layers import LayerMix, masked_mean_std

MODES = ("audio", "text", "fusion")
ALIGNMENTS = ("global", "local", "forced")
SAMPLE_RATE = 16_000
CONV_LAYERS = ((80, 10), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2))  # (kernel, stride) per layer


def _receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Samples one output state depends on: each layer widens it by (kernel - 1) input steps."""
    field, step = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * step
        step *= stride
    return field


HOP = math.prod(stride for _, stride in CONV_LAYERS)  # 320 samples = 20 ms between states
RECEPTIVE_FIELD = _receptive_field(CONV_LAYERS)  # 540 samples = 33.75 ms per state
FRAME_RATE = SAMPLE_RATE / HOP  # 50 states per second


def frame_lengths(wave_lengths: torch.Tensor) -> torch.Tensor:
    """Audio states of each waveform: ``[B]`` samples -> ``[B]`` states (at least 1; a wave
    shorter than :data:`RECEPTIVE_FIELD` is zero-padded to it)."""
    lengths = wave_lengths.long().clamp_min(RECEPTIVE_FIELD)
    for kernel, stride in CONV_LAYERS:
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
    return lengths


def word_spans_to_frames(spans: Sequence[tuple[float, float] | None]) -> torch.Tensor:
    """ASR word timestamps -> ``[N, 2]`` long (start, end) audio-state indices, end exclusive.

    ``spans``: one ``(start_s, end_s)`` in seconds per token (e.g. Whisper's word timestamps;
    tokens split from one word, like "do" + "n't", share its span), or ``None`` for a token with
    no span (-> ``(-1, -1)``). A word gets the states whose receptive field is centred inside
    ``[start_s, end_s)``, and at least one state. Stack one tensor per clip, padding with -1, to
    build the model's ``word_frames [B, N, 2]``.
    """
    centre = (RECEPTIVE_FIELD - 1) / 2  # samples from a state's first sample to its centre
    rows = []
    for span in spans:
        if span is None:
            rows.append((-1, -1))
            continue
        start_s, end_s = span
        start = max(0, math.ceil((start_s * SAMPLE_RATE - centre) / HOP))
        end = max(start + 1, math.ceil((end_s * SAMPLE_RATE - centre) / HOP))
        rows.append((start, end))
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), 2)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's real steps in place of them, padding left where it is:
    ``x [B, T, D]``, ``lengths [B]`` -> ``[B, T, D]``. Its own inverse."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # [1, T]
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # [B, T]
    return x.gather(1, index[..., None].expand_as(x))


class MaskedGRU(nn.Module):
    """A batch-first (bi)GRU that reads only each sequence's real steps: ``x [B, T, D]``,
    ``lengths [B]`` -> ``[B, T, H·directions]``, zero past each length.

    Same result as ``nn.GRU`` on a ``pack_padded_sequence``, computed differently: the forward
    direction runs over the padded batch (padding comes after the real steps, so it cannot reach
    them), the backward direction over each sequence reversed within its length. On a CPU this is
    2-3 times faster than packing, whose backward pass copies the whole sequence at every step.
    """

    def __init__(self, input_dim: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.forward_gru = nn.GRU(input_dim, hidden, batch_first=True)
        self.backward_gru = nn.GRU(input_dim, hidden, batch_first=True) if bidirectional else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states = [self.forward_gru(x)[0]]  # [B, T, H]
        if self.backward_gru is not None:
            backward = self.backward_gru(reverse_padded(x, lengths))[0]  # [B, T, H], real steps reversed
            states.append(reverse_padded(backward, lengths))
        return torch.cat(states, dim=-1) * length_mask(lengths, x.shape[1])[..., None].to(x.dtype)


def standardize_waves(wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over each clip's real samples; padding set to 0. ``[B, S]`` -> ``[B, S]``."""
    mask = length_mask(lengths, wave.shape[1]).to(wave.dtype)  # [B, S]
    count = lengths.clamp_min(1).to(wave.dtype)[:, None]  # [B, 1]
    mean = (wave * mask).sum(dim=1, keepdim=True) / count
    var = (((wave - mean) * mask) ** 2).sum(dim=1, keepdim=True) / count
    return (wave - mean) / (var + 1e-7).sqrt() * mask


class WaveformEncoder(nn.Module):
    """Audio branch: raw 16 kHz waves -> 50 GRU states per second.

    ``wave [B, S]``, ``wave_lengths [B]`` -> states ``h̄_s`` ``[B, M, state_dim]`` and mask ``[B, M]``.
    """

    def __init__(self, channels: int, hidden: int, bidirectional: bool, dropout: float):
        super().__init__()
        widths = [1] + [channels] * len(CONV_LAYERS)
        layers = []
        for c_in, c_out, (kernel, stride) in zip(widths, widths[1:], CONV_LAYERS):
            conv = nn.Conv1d(c_in, c_out, kernel, stride)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # keeps the scale through the stack
            layers += [conv, nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(channels)
        self.dropout = nn.Dropout(dropout)
        self.gru = MaskedGRU(channels, hidden, bidirectional)

    def forward(self, wave: torch.Tensor, wave_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wave = standardize_waves(wave, wave_lengths)  # [B, S]
        if wave.shape[1] < RECEPTIVE_FIELD:
            wave = nn.functional.pad(wave, (0, RECEPTIVE_FIELD - wave.shape[1]))
        features = self.convs(wave.unsqueeze(1)).transpose(1, 2)  # [B, M, C]
        lengths = frame_lengths(wave_lengths)  # [B]
        states = self.gru(self.dropout(self.norm(features)), lengths)  # h̄_s: [B, M, state_dim]
        return states, length_mask(lengths, states.shape[1])


class StateEncoder(nn.Module):
    """Audio branch on a frozen speech encoder: ``speech [B, L, M, D]`` (L layers' states, M frames at
    50 per second), ``speech_mask [B, M]`` -> states ``h̄_s`` ``[B, M, state_dim]`` and the mask. The layers are
    mixed by learned weights, each normalised first (:meth:`~emodemo.models.layers.LayerMix.normalised`), then
    a GRU runs over the frames; or, with ``recurrent=False``, each frame is projected alone (``tanh(W x_s)``): the
    encoder's frames already carry their context, and a GRU over them can learn the training clips' timing.
    Word spans point at these frames as at the waveform branch's (:func:`word_spans_to_frames`): a Whisper frame
    is centred about 17 ms (0.84 frame) later than that function assumes, well within Whisper's word timings."""

    def __init__(
        self, n_layers: int, speech_dim: int, hidden: int, bidirectional: bool, dropout: float, recurrent: bool = True
    ):
        super().__init__()
        self.mix = LayerMix(n_layers)
        self.dropout = nn.Dropout(dropout)
        state_dim = hidden * (2 if bidirectional else 1)
        self.gru = MaskedGRU(speech_dim, hidden, bidirectional) if recurrent else None
        self.project = None if recurrent else nn.Linear(speech_dim, state_dim)

    def forward(self, speech: torch.Tensor, speech_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.frames(self.mixed(speech), speech_mask), speech_mask

    def mixed(self, speech: torch.Tensor) -> torch.Tensor:
        """The layers of ``speech [B, L, M, D]`` mixed, each normalised first -> ``[B, M, D]``."""
        return self.mix.normalised(speech.float())

    def frames(self, mixed: torch.Tensor, speech_mask: torch.Tensor) -> torch.Tensor:
        """``h̄_s [B, M, state_dim]`` of the mixed states ``[B, M, D]``: a GRU over them, or each projected alone."""
        mixed = self.dropout(mixed)
        if self.gru is not None:
            return self.gru(mixed, speech_mask.sum(dim=1))
        return torch.tanh(self.project(mixed)) * speech_mask[..., None]


class TextEncoder(nn.Module):
    """Text branch: word ids -> word vectors (GloVe-initialised) -> GRU states.

    ``tokens [B, N]`` (0 = padding, right-padded) -> states ``h_t`` ``[B, N, state_dim]`` and mask ``[B, N]``.
    """

    def __init__(
        self, vocab_size: int, embed_dim: int, hidden: int, bidirectional: bool, dropout: float, freeze_embedding: bool
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze_embedding)
        self.dropout = nn.Dropout(dropout)
        self.gru = MaskedGRU(embed_dim, hidden, bidirectional)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = tokens != 0  # [B, N]
        lengths = mask.sum(dim=1)  # [B]
        if not torch.equal(mask, length_mask(lengths, tokens.shape[1])):
            raise ValueError("tokens must be right-padded: real word ids (> 0) first, then 0s")
        vectors = self.dropout(self.embedding(tokens))  # [B, N, E]
        states = self.gru(vectors, lengths)  # h_t: [B, N, state_dim]
        return states, mask


class NMTAttention(nn.Module):
    """Talk 000's model. ``forward(wave, wave_lengths, tokens, word_frames)`` -> ``{"logits": [B, C]}``,
    plus ``"attention"`` ``[B, N, M]`` (each word's weights over the audio states) in fusion mode.

    Inputs (each mode reads only what it needs):
    ``wave [B, S]`` float 16 kHz, zero-padded; ``wave_lengths [B]`` real samples (default: all S);
    or, with ``speech_layers`` = L, ``speech [B, L, M, D]`` frozen encoder states (``speech_dim`` = D)
    with ``speech_mask [B, M]``, in place of the wave (``speech_recurrent=False``: no GRU over them;
    ``speech_summary=True``: the head also reads the whole clip's mixed states as the speech probe does, their mean and
    standard deviation over the frames, beside what the words attended to);
    ``tokens [B, N]`` word ids, 0 = padding; ``word_frames [B, N, 2]`` (alignment ``"forced"``).

    ``score``: ``"dot"``, ``"general"`` or ``"concat"`` (Bahdanau, the talk's choice); ``window``:
    w of local attention (2w+1 states = (2w+1)·20 ms). ``hidden`` is per GRU direction; both
    branches share it, so text and audio states have one size (``state_dim``). ``vocab_size`` and
    ``embed_dim`` size the word embedding; fill it with :meth:`load_embedding`.
    """

    def __init__(
        self,
        n_classes: int,
        mode: str = "fusion",
        vocab_size: int | None = None,
        embed_dim: int = 50,
        score: str = "concat",
        alignment: str = "global",
        window: int = 10,
        hidden: int = 64,
        conv_channels: int = 64,
        bidirectional: bool = True,
        freeze_embedding: bool = False,
        dropout: float = 0.3,
        speech_layers: int | None = None,
        speech_dim: int = 512,
        speech_recurrent: bool = True,
        speech_summary: bool = False,
    ):
        super().__init__()
        for name, value, allowed in (
            ("mode", mode, MODES),
            ("score", score, SCORES),
            ("alignment", alignment, ALIGNMENTS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if mode != "audio" and not vocab_size:
            raise ValueError(f"mode {mode!r} reads words: give vocab_size (rows of the embedding, id 0 = padding)")
        if window < 0:
            raise ValueError(f"window (half-width w) must be >= 0, got {window}")
        if speech_summary and not (speech_layers and mode == "fusion"):
            raise ValueError(
                "speech_summary pools frozen encoder states beside the words: give speech_layers, mode fusion"
            )
        self.mode, self.alignment, self.window = mode, alignment, window
        self.state_dim = hidden * (2 if bidirectional else 1)
        self.reads_states = bool(speech_layers)
        if mode in ("audio", "fusion"):
            self.audio = (
                StateEncoder(speech_layers, speech_dim, hidden, bidirectional, dropout, speech_recurrent)
                if speech_layers
                else WaveformEncoder(conv_channels, hidden, bidirectional, dropout)
            )
        if mode in ("text", "fusion"):
            self.text = TextEncoder(vocab_size, embed_dim, hidden, bidirectional, dropout, freeze_embedding)
        if mode == "fusion":
            self.score = make_score(score, self.state_dim, self.state_dim)
            self.W_c = nn.Linear(2 * self.state_dim, self.state_dim, bias=False)
        # the whole clip's [mean; std] of the mixed states -> [B, state_dim], read beside the words' pooled states
        self.summary = (
            nn.Sequential(
                nn.LayerNorm(2 * speech_dim), nn.Dropout(dropout), nn.Linear(2 * speech_dim, self.state_dim), nn.GELU()
            )
            if speech_summary
            else None
        )
        summary_dim = self.state_dim if speech_summary else 0
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * self.state_dim + summary_dim, n_classes))

    @torch.no_grad()
    def load_embedding(self, matrix: torch.Tensor | np.ndarray) -> None:
        """Copy pre-trained word vectors (``[vocab_size, embed_dim]``, row 0 = padding, e.g.
        :meth:`emodemo.inputs.text.Glove.embedding_matrix`) into the text branch."""
        if not hasattr(self, "text"):
            raise ValueError(f"mode {self.mode!r} has no word embedding")
        weight = self.text.embedding.weight
        matrix = torch.as_tensor(matrix, dtype=weight.dtype)
        if matrix.shape != weight.shape:
            raise ValueError(
                f"embedding matrix must be [vocab_size, embed_dim] = {list(weight.shape)}, got {list(matrix.shape)}"
            )
        weight.copy_(matrix)

    def forward(
        self,
        wave: torch.Tensor | None = None,
        wave_lengths: torch.Tensor | None = None,
        tokens: torch.Tensor | None = None,
        word_frames: torch.Tensor | None = None,
        speech: torch.Tensor | None = None,
        speech_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        if self.mode in ("audio", "fusion"):
            sound = (
                self._checked_speech(speech, speech_mask)
                if self.reads_states
                else self._checked_wave(wave, wave_lengths)
            )
            if self.summary is None:
                audio_states, audio_mask = self.audio(*sound)  # h̄_s [B, M, D], [B, M]
            else:  # the mixed states feed both the frames and the clip's summary
                mixed, audio_mask = self.audio.mixed(sound[0]), sound[1]  # [B, M, speech_dim], [B, M]
                audio_states = self.audio.frames(mixed, audio_mask)  # h̄_s [B, M, D]
        if self.mode in ("text", "fusion"):
            text_states, text_mask = self.text(self._checked_tokens(tokens))  # h_t [B, N, D], [B, N]
        if self.mode == "audio":
            return {"logits": self.head(masked_mean_std(audio_states, audio_mask))}
        if self.mode == "text":
            return {"logits": self.head(masked_mean_std(text_states, text_mask))}
        if len(text_states) != len(audio_states):
            raise ValueError(f"tokens hold {len(text_states)} examples but the sound holds {len(audio_states)}")
        context, weights = self._attend(text_states, text_mask, audio_states, audio_mask, word_frames)
        attentional = torch.tanh(
            self.W_c(torch.cat([context, text_states], dim=-1))
        )  # h̃_t = tanh(W_c [c_t; h_t]): [B, N, D]
        pooled = masked_mean_std(attentional, text_mask)  # [B, 2D]
        if self.summary is not None:
            pooled = torch.cat([pooled, self.summary(masked_mean_std(mixed, audio_mask))], dim=-1)  # [B, 3D]
        return {"logits": self.head(pooled), "attention": weights}

    def _attend(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        audio_states: torch.Tensor,
        audio_mask: torch.Tensor,
        word_frames: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``c_t`` ``[B, N, D]`` and weights ``a_t(s)`` ``[B, N, M]`` under the chosen alignment."""
        audio_lengths, text_lengths = audio_mask.sum(dim=1), text_mask.sum(dim=1)  # [B] each
        if self.alignment == "local":
            centres = monotonic_centres(text_lengths, audio_lengths, text_states.shape[1])  # p_t: [B, N]
            return local_attention(
                self.score, text_states, audio_states, centres, self.window, audio_lengths, text_mask
            )
        if self.alignment == "forced":
            if word_frames is None or word_frames.shape[:2] != text_mask.shape:
                got = None if word_frames is None else tuple(word_frames.shape)
                raise ValueError(
                    f"alignment 'forced' needs word_frames [B, N, 2] = {tuple(text_mask.shape)} + (2,) "
                    f"(see word_spans_to_frames), got {got}"
                )
            allowed = span_mask(word_frames, audio_lengths, audio_states.shape[1])  # [B, N, M]
        else:
            allowed = audio_mask[:, None, :]  # [B, 1, M]
        allowed = allowed & text_mask[:, :, None]  # [B, N, M]
        return global_attention(self.score, text_states, audio_states, allowed)

    def _checked_wave(
        self, wave: torch.Tensor | None, wave_lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if wave is None or wave.dim() != 2 or not wave.is_floating_point():
            got = None if wave is None else f"{wave.dtype} {tuple(wave.shape)}"
            raise ValueError(f"mode {self.mode!r} needs wave: float [batch, samples] at 16 kHz, got {got}")
        if wave_lengths is None:
            return wave, torch.full((len(wave),), wave.shape[1], device=wave.device, dtype=torch.long)
        if wave_lengths.shape != (len(wave),) or int(wave_lengths.min()) < 1 or int(wave_lengths.max()) > wave.shape[1]:
            raise ValueError(
                f"wave_lengths must be [batch] = [{len(wave)}] sample counts in 1..{wave.shape[1]}, "
                f"got {wave_lengths.tolist()}"
            )
        return wave, wave_lengths

    def _checked_speech(
        self, speech: torch.Tensor | None, speech_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        layers = len(self.audio.mix.logits)
        if speech is None or speech.dim() != 4 or speech.shape[1] != layers:
            got = None if speech is None else tuple(speech.shape)
            raise ValueError(f"this model reads speech states [batch, {layers} layers, frames, dim], got {got}")
        if speech_mask is None:
            return speech, torch.ones(speech.shape[0], speech.shape[2], dtype=torch.bool, device=speech.device)
        contiguous = speech_mask.dtype == torch.bool and speech_mask.shape == (speech.shape[0], speech.shape[2])
        if not contiguous or not torch.equal(speech_mask, length_mask(speech_mask.sum(dim=1), speech.shape[2])):
            raise ValueError(
                f"speech_mask must be bool [batch, frames] = {[speech.shape[0], speech.shape[2]]} with each clip's "
                f"real frames first, got {speech_mask.dtype} {list(speech_mask.shape)}"
            )
        return speech, speech_mask

    def _checked_tokens(self, tokens: torch.Tensor | None) -> torch.Tensor:
        if tokens is None or tokens.dim() != 2 or tokens.shape[1] == 0 or tokens.is_floating_point():
            got = None if tokens is None else f"{tokens.dtype} {tuple(tokens.shape)}"
            raise ValueError(f"mode {self.mode!r} needs tokens: integer word ids [batch, words], got {got}")
        vocab_size = self.text.embedding.num_embeddings
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
            raise ValueError(
                f"token ids must lie in 0..{vocab_size - 1} (vocab_size), got {int(tokens.min())}..{int(tokens.max())}"
            )
        return tokens.long()


class NMTAttentionMean(FoldMean):
    """The mean of calibrated :class:`NMTAttention` members (:class:`~emodemo.models.ensemble.FoldMean`): a run's 5
    cross-validation fold models (the served checkpoint's), a fold pair of two runs, or a pair's 10; each word's
    attention over the sound the members' average."""

    MEMBER = NMTAttention
