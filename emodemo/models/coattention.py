"""Talk 001: frozen pre-trained speech and text embeddings fused by alternating co-attention.

The talk (Leung & Deng, IARIA 2022) extracts speech embeddings X (VGGish / YAMNet / TRILL) and
text embeddings Y (T5 / BERT) with pre-trained networks and fuses them in three attention steps
(its eq. 3, after Lu et al.'s alternating co-attention). One step attends over a sequence X
guided by a vector g:

    H     = tanh(W_x X + (W_g g) 1^T)        W_x, W_g: k x d;  1: a vector of ones   [k, T]
    a     = softmax(w_h^T H)                 w_h: k                                  [T]
    x_hat = sum_i a_i x_i                                                            [d]

1. attend the text with no guidance (g = 0)                        -> y_1, weights a_y1
2. attend the speech guided by the attended text                   -> x_hat, weights a_x
3. attend the text again guided by the attended speech             -> y_hat, weights a_y3

and fuses the two summaries linearly (eq. 4): ``z = LayerNorm(W_x^T x_hat + W_y^T y_hat)``,
followed by a classifier trained with binary cross-entropy in the talk (softmax cross-entropy
here too, :class:`~emodemo.training.engine.TrainConfig` ``loss``).

Here X are the Whisper tiny.en encoder's frame states (50 per second, 384-d) and Y the word-piece
states of all-MiniLM-L6-v2 (384-d): the nearest pre-trained encoders to be had offline.

**Staged fine-tuning** (the talk's "final layer, then the second-to-last, then everything"): the
model holds trainable copies of the top ``speech_top`` Whisper blocks (+ its final layer norm) and
the top ``text_top`` MiniLM layers. Its inputs are the frozen encoders' states at every layer from
the one below those copies up to the last (cached once per clip, see the recipe);
:meth:`CoAttentionNet.unfreeze` ``(n)`` trains the top n copies of each side, and the forward pass
then starts from the cached states below them, so frozen layers cost nothing per epoch. n = 0 is
the head alone on the encoders' last states.

Variants (``mode``): ``"fusion"`` (the three steps), ``"speech"`` or ``"text"`` alone (one
unguided attention step, the talk's single-embedding rows). ``speech_stats`` (not in the talk):
the speech summary is the attended frames' weighted mean *and* standard deviation (attentive
statistics pooling, Okabe et al. 2018), ``W_x`` then ``F x 2 Ds``; the guide of step 3 stays the mean.
``speech_plain`` (not in the talk either) adds every frame's plain mean and standard deviation.
``speech_layers`` = L (not in the talk, which reads one embedding): X is a learned softmax-weighted sum of
L frozen layers' states, each layer-normalised (the SUPERB probes' mix, as Self-MHA reads Whisper base's
layers 0-3), with the head alone (no top copies). ``utterance_norm`` (not in the talk): X then has each clip's own
mean and spread per feature taken out (:func:`~emodemo.models.layers.utterance_normalised`), so that what stays the
same through a clip, as how old or how low a voice sounds, cannot be read as an emotion.
"""

from __future__ import annotations

import torch
from torch import nn

from emodemo.models.ensemble import FoldMean
from emodemo.models.layers import LayerMix, utterance_normalised
from emodemo.models.whisper_blocks import run_blocks

MODES = ("fusion", "speech", "text")


class GuidedAttention(nn.Module):
    """One step of eq. 3: attention pooling of ``x [B, T, d]`` guided by ``g [B, d_g]`` (or None = 0)."""

    def __init__(self, dim: int, guide_dim: int, k: int):
        super().__init__()
        self.w_x = nn.Linear(dim, k, bias=False)  # W_x
        self.w_g = nn.Linear(guide_dim, k, bias=False)  # W_g
        self.w_h = nn.Linear(k, 1, bias=False)  # w_h

    def forward(self, x: torch.Tensor, mask: torch.Tensor, guide: torch.Tensor | None = None):
        h = self.w_x(x)  # [B, T, k]
        if guide is not None:
            h = h + self.w_g(guide)[:, None, :]  # (W_g g) 1^T: the same guide at every step
        scores = self.w_h(torch.tanh(h)).squeeze(-1)  # [B, T]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # a [B, T], 0 on padding
        return torch.einsum("bt,btd->bd", weights, x), weights  # x_hat [B, d], a [B, T]


class CoAttentionNet(nn.Module):
    """Co-attention fusion of speech states and text states (see the module docstring).

    Inputs: ``speech [B, speech_top + 1, T, Ds]`` (Whisper states from the layer below the top
    copies up to the last; ``[B, speech_layers, T, Ds]`` when it mixes layers), ``speech_mask [B, T]``;
    ``text [B, text_top + 1, N, Dt]`` (MiniLM likewise), ``text_mask [B, N]``. A unimodal model
    ignores the other modality's inputs.
    Output: ``{"logits": [B, C], "speech_attention": [B, T], "text_attention_1": [B, N],
    "text_attention_3": [B, N]}`` (the weights the steps put on frames and word pieces; a
    unimodal model returns its one step's weights), and ``"layer_weights": [B, L]`` when it mixes layers.
    """

    def __init__(
        self,
        n_classes: int,
        mode: str = "fusion",
        speech_dim: int = 384,
        text_dim: int = 384,
        attention_dim: int = 256,
        fused_dim: int = 256,
        dropout: float = 0.3,
        speech_top: int = 0,
        speech_heads: int = 6,
        text_top: int = 0,
        text_config: dict | None = None,
        speech_stats: bool = False,
        speech_plain: bool = False,
        speech_layers: int = 0,
        utterance_norm: bool = False,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if speech_layers and speech_top:
            raise ValueError("speech_layers mixes frozen layers with the head alone: it takes speech_top=0")
        self.mode = mode
        self.uses_speech, self.uses_text = mode in ("fusion", "speech"), mode in ("fusion", "text")
        self.speech_top = _whisper_top(speech_dim, speech_heads, speech_top) if self.uses_speech else None
        self.layer_mix = LayerMix(speech_layers) if speech_layers and self.uses_speech else None
        self.utterance_norm = utterance_norm  # each clip's constant part of X taken out
        self.text_top = _bert_top(text_dim, text_config or {}, text_top) if self.uses_text else None
        # a model built from a checkpoint runs every copied layer: those a stage trained, and any
        # untrained copy, which equals the encoder's own layer (training starts at unfreeze(0))
        self.unfrozen = max((len(blocks) for blocks in self.top_blocks()), default=0)
        k = attention_dim
        self.attend_text_1 = GuidedAttention(text_dim, speech_dim, k) if self.uses_text else None  # step 1 (g = 0)
        self.attend_speech = GuidedAttention(speech_dim, text_dim, k) if self.uses_speech else None  # step 2
        self.attend_text_3 = GuidedAttention(text_dim, speech_dim, k) if mode == "fusion" else None  # step 3
        self.speech_stats = speech_stats  # the attended frames' spread beside their mean (attentive statistics)
        self.speech_plain = speech_plain  # every frame's plain mean and spread beside the attended summary
        summary_dim = speech_dim * (1 + speech_stats + 2 * speech_plain)
        self.project_speech = nn.Linear(summary_dim, fused_dim, bias=False) if self.uses_speech else None  # W_x
        self.project_text = nn.Linear(text_dim, fused_dim, bias=False) if self.uses_text else None  # W_y
        self.norm = nn.LayerNorm(fused_dim)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(fused_dim, n_classes))

    # --- staged fine-tuning ---------------------------------------------------------------------

    def top_blocks(self) -> list[nn.ModuleList]:
        return [top.blocks for top in (self.speech_top, self.text_top) if top is not None]

    def unfreeze(self, n: int) -> None:
        """Train the head and the top ``n`` encoder layers of each modality (at most as many as were
        copied); the layers below stay frozen and are skipped (their outputs are the inputs)."""
        most = max((len(blocks) for blocks in self.top_blocks()), default=0)
        if not 0 <= n <= most:
            raise ValueError(f"this model holds {most} encoder layer(s) per modality; cannot unfreeze {n}")
        self.unfrozen = n
        for name, parameter in self.named_parameters():
            parameter.requires_grad = not name.startswith(("speech_top.", "text_top."))
        for top in (self.speech_top, self.text_top):
            if top is not None:
                top.unfreeze(n)

    def load_encoder_tops(self, speech_blocks=(), speech_norm: nn.Module | None = None, text_blocks=()) -> None:
        """Copy pre-trained weights into the top copies: the encoders' last ``len(copies)`` blocks
        (Whisper ``encoder.blocks``, ``encoder.ln_post``; MiniLM ``encoder.layer``)."""
        pairs = []
        if self.speech_top is not None and len(self.speech_top.blocks):
            pairs += list(zip(self.speech_top.blocks, list(speech_blocks)[-len(self.speech_top.blocks) :]))
            pairs.append((self.speech_top.final_norm, speech_norm))
        if self.text_top is not None and len(self.text_top.blocks):
            pairs += list(zip(self.text_top.blocks, list(text_blocks)[-len(self.text_top.blocks) :]))
        for copy, source in pairs:
            copy.load_state_dict(source.state_dict())

    # --- forward --------------------------------------------------------------------------------

    def forward(
        self,
        speech: torch.Tensor | None = None,
        speech_mask: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = self.speech_states(speech, speech_mask, out) if self.uses_speech else None  # [B, T, Ds]
        y = self.text_top(text, text_mask, self.unfrozen) if self.uses_text else None  # [B, N, Dt]
        if self.mode == "speech":
            x_hat, out["speech_attention"] = self.attend_speech(x, speech_mask)
            z = self.project_speech(self.speech_summary(x, x_hat, out["speech_attention"], speech_mask))
        elif self.mode == "text":
            y_hat, out["text_attention_1"] = self.attend_text_1(y, text_mask)
            z = self.project_text(y_hat)
        else:
            y_1, out["text_attention_1"] = self.attend_text_1(y, text_mask)  # step 1, g = 0
            x_hat, out["speech_attention"] = self.attend_speech(x, speech_mask, y_1)  # step 2, g = y_1
            y_hat, out["text_attention_3"] = self.attend_text_3(y, text_mask, x_hat)  # step 3, g = x_hat
            speech = self.speech_summary(x, x_hat, out["speech_attention"], speech_mask)  # [B, (1-4) Ds]
            z = self.project_speech(speech) + self.project_text(y_hat)  # eq. 4 [B, F]
        out["logits"] = self.classifier(self.norm(z))  # [B, C]
        return out

    def speech_states(self, speech: torch.Tensor, mask: torch.Tensor, out: dict) -> torch.Tensor:
        """``X [B, T, Ds]``: the top copies' output, or the layer-normalised layers' learned mix; with
        ``utterance_norm``, less each clip's mean over its spread, per feature."""
        if self.layer_mix is None:
            x = self.speech_top(speech, mask, self.unfrozen)
        else:
            if speech.shape[1] != len(self.layer_mix.logits):
                raise ValueError(f"expected states of {len(self.layer_mix.logits)} layers, got {speech.shape[1]}")
            out["layer_weights"] = self.layer_mix.weights.expand(len(speech), -1)  # [B, L]
            x = self.layer_mix.normalised(speech) * mask[..., None]  # [B, T, Ds], 0 on padding
        return utterance_normalised(x, mask) if self.utterance_norm else x

    def speech_summary(
        self, x: torch.Tensor, x_hat: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``x_hat [B, Ds]``, followed with ``speech_stats`` by the attention-weighted standard
        deviation of the frames ``x [B, T, Ds]`` (weights ``[B, T]``, 0 on padding): how much the voice
        moves, which the weighted mean alone cannot say; and with ``speech_plain`` by the plain mean and
        standard deviation of every real frame (``mask [B, T]``), which no learned attention can skew."""
        parts = [x_hat]
        if self.speech_stats:
            parts.append(_spread(x, x_hat, weights))
        if self.speech_plain:
            uniform = mask.float() / mask.float().sum(dim=1, keepdim=True).clamp_min(1.0)  # [B, T]
            mean = torch.einsum("bt,btd->bd", uniform, x)  # [B, Ds]
            parts += [mean, _spread(x, mean, uniform)]
        return torch.cat(parts, dim=-1)  # [B, (1 + stats + 2 plain) Ds]


class CoAttentionMean(FoldMean):
    """The mean of calibrated :class:`CoAttentionNet` members: the models of a run's 5 cross-validation folds, or two
    runs' fold pairs' 10 (:class:`~emodemo.models.ensemble.FoldMean`; served since 2026-12-06: ``reproduce
    coattention --variant served_pitch_tempo_fold_mean``).
    """

    MEMBER = CoAttentionNet
    HEAD_OPTIONS = frozenset({"speech_stats", "speech_plain"})  # what the speech summary holds, after the attention


def _spread(x: torch.Tensor, centre: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``[B, Ds]`` the weighted standard deviation of ``x [B, T, Ds]`` around ``centre [B, Ds]``."""
    variance = torch.einsum("bt,btd->bd", weights, (x - centre[:, None, :]) ** 2)
    return variance.clamp_min(1e-6).sqrt()


class _EncoderTop(nn.Module):
    """The top layers of a frozen encoder, copied so that they can be fine-tuned.

    ``states [B, n_blocks + 1, T, D]`` holds the encoder's states below each copied layer and its
    last states; with ``unfrozen`` = u the top u layers run on the states below them."""

    def __init__(self, blocks: nn.ModuleList, final_norm: nn.Module | None):
        super().__init__()
        self.blocks = blocks
        self.final_norm = final_norm

    def unfreeze(self, n: int) -> None:
        for block in list(self.blocks)[len(self.blocks) - min(n, len(self.blocks)) :]:
            block.requires_grad_(True)
        if self.final_norm is not None and n > 0 and len(self.blocks) > 0:
            self.final_norm.requires_grad_(True)

    def run(self, blocks: list[nn.Module], x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, states: torch.Tensor, mask: torch.Tensor, unfrozen: int) -> torch.Tensor:
        n = min(unfrozen, len(self.blocks))
        if states.shape[1] != len(self.blocks) + 1:
            raise ValueError(f"expected states of {len(self.blocks) + 1} layers, got {states.shape[1]}")
        if n == 0:
            return states[:, -1]  # the frozen encoder's output [B, T, D]
        x = self.run(list(self.blocks)[-n:], states[:, -1 - n], mask)  # start below the trained layers
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x * mask[..., None]


class _WhisperTop(_EncoderTop):
    def run(self, blocks, x, mask):
        return run_blocks(blocks, x, mask)


class _BertTop(_EncoderTop):
    def run(self, blocks, x, mask):
        additive = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
        additive = additive.masked_fill(~mask, torch.finfo(x.dtype).min)[:, None, None, :]  # [B, 1, 1, N]
        for block in blocks:
            x = block(x, attention_mask=additive)
            x = x[0] if isinstance(x, tuple) else x
        return x


def _whisper_top(dim: int, heads: int, n: int) -> _WhisperTop:
    """``n`` Whisper encoder blocks and the encoder's final layer norm (``ln_post``)."""
    from whisper.model import ResidualAttentionBlock

    return _WhisperTop(
        nn.ModuleList(ResidualAttentionBlock(dim, heads) for _ in range(n)), nn.LayerNorm(dim) if n else None
    )


def _bert_top(dim: int, config: dict, n: int) -> _BertTop:
    """``n`` BERT layers (MiniLM's: 12 heads, 1536 hidden); BERT layers end in their own layer norm."""
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer

    settings = {"num_attention_heads": 12, "intermediate_size": 4 * dim, **config, "hidden_size": dim}
    bert = BertConfig(**settings, attn_implementation="sdpa")
    return _BertTop(nn.ModuleList(BertLayer(bert) for _ in range(n)), None)
