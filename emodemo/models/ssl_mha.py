"""Talk 002: self-supervised speech features and BERT-family text features, fused by multi-head
self-attention over the joined sequence (Self-MHA) or by cross-attention (Cross-MHA).

The talk (Li, Chen, Su & Xing, UCL 2022) asks Rajan et al.'s question (ICASSP 2022, "Is
cross-attention preferable to self-attention for multi-modal emotion recognition?") on
self-supervised features. Here the speech features are the Whisper tiny.en encoder's frame states
at every layer (wav2vec2 / HuBERT for users who are online), mixed by learned weights; the text
features are the word-piece states of all-MiniLM-L6-v2 (a 6-layer BERT).

    speech  S  = sum_l softmax(w)_l LN(H_l)       learned weighted sum over encoder layers   [B, T, Ds]
            S' = W_s AvgPool_2(S) + e_speech      pairs of frames averaged (T' = ceil(T / 2)),
                                                  projection to d + a modality embedding     [B, T', d]
    text    X' = W_t X + e_text                   word-piece states (or [CLS] alone)         [B, N, d]

    Self-MHA:  J = [S'; X']                                                                  [B, T'+N, d]
               Z = Block(J, J)                    every position attends to every position   [B, T'+N, d]
               z = StatPool(Z) = [mean_t Z; std_t Z]   over the joined sequence              [B, 2d]
    Cross-MHA: A = Block(S', X')                  speech queries, text keys and values       [B, T', d]
               B = Block(X', S')                  text queries, speech keys and values       [B, N, d]
               z = [StatPool(A); StatPool(B)]                                                [B, 4d]
    y = W_2 ReLU(W_1 dropout(z))                                                             [B, C]

``Block(q, kv)`` is one Transformer layer with the attention's keys and values taken from ``kv``:
``h = LN(q + MHA(q, kv, kv))``, ``out = LN(h + FFN(h))``. The modality embeddings tell the
self-attention which positions are speech and which are words. Self-MHA pools its one joined
sequence, so speech positions (~25 per second) outnumber word pieces (~10 per line) in its mean and
std, while Cross-MHA pools each direction apart; with the CLS text feature Cross-MHA's text side is
one position and its std is a constant (only its mean informs). The frame averaging (``speech_stride``)
halves the attention's cost on a CPU; ``speech_stride=1`` keeps every frame.

Variants (the talk's tables): ``fusion`` "self" or "cross" (or "speech" / "text" alone: self-attention
over one modality, the unimodal rows); ``pooling`` "stat" (mean and std) or "mean" (the noSP
ablation: the mean alone); ``text_feature`` "tokens" or "cls" (the CLS ablation: the text is the
[CLS] vector alone, a sequence of one).
"""

from __future__ import annotations

import torch
from torch import nn

from emodemo.models.ensemble import averaged_outputs, calibrated_mean
from emodemo.models.layers import LayerMix, masked_mean_std, masked_stride_pool

FUSIONS = ("self", "cross", "speech", "text")
POOLINGS = ("stat", "mean")
TEXT_FEATURES = ("tokens", "cls")


class AttentionBlock(nn.Module):
    """One Transformer layer whose queries come from ``q`` and keys/values from ``kv``
    (``q is kv`` for self-attention); returns the new ``q`` and the head-averaged weights."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_1 = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim)
        )
        self.norm_2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor):
        # q [B, Tq, d], kv [B, Tk, d], kv_mask [B, Tk] (True = real) -> [B, Tq, d], weights [B, Tq, Tk]
        attended, weights = self.attention(
            q, kv, kv, key_padding_mask=~kv_mask, need_weights=True, average_attn_weights=True
        )
        h = self.norm_1(q + self.dropout(attended))
        return self.norm_2(h + self.dropout(self.feed_forward(h))), weights


class SslMhaNet(nn.Module):
    """Self- or cross-attention fusion of layer-mixed speech states and text states (module docstring).

    Inputs: ``speech [B, L, T, Ds]`` (the encoder's states at each of its L layers, embedding output
    included), ``speech_mask [B, T]``; ``text [B, 1, N, Dt]`` (MiniLM's last layer; position 0 is
    [CLS]), ``text_mask [B, N]``. A unimodal model ignores the other modality's inputs.
    Output: ``{"logits": [B, C]}``, ``"layer_weights": [B, L]`` when it reads speech (the same mix for
    every clip), and the attention weights, over T' = ceil(T / speech_stride) speech positions:
    ``"self_attention" [B, T'+N, T'+N]`` (rows and columns: speech positions, then word pieces) for
    Self-MHA and the unimodal models, ``"speech_to_text" [B, T', N]`` and ``"text_to_speech" [B, N, T']``
    for Cross-MHA (N = 1 with the CLS text feature).
    """

    def __init__(
        self,
        n_classes: int,
        fusion: str = "self",
        pooling: str = "stat",
        text_feature: str = "tokens",
        speech_dim: int = 384,
        speech_layers: int = 5,
        text_dim: int = 384,
        dim: int = 128,
        heads: int = 4,
        dropout: float = 0.2,
        speech_stride: int = 2,
    ):
        super().__init__()
        for value, allowed, what in (
            (fusion, FUSIONS, "fusion"),
            (pooling, POOLINGS, "pooling"),
            (text_feature, TEXT_FEATURES, "text_feature"),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
        self.fusion, self.pooling, self.text_feature = fusion, pooling, text_feature
        self.uses_speech, self.uses_text = fusion != "text", fusion != "speech"
        self.speech_stride = speech_stride
        if self.uses_speech:
            self.layer_mix = LayerMix(speech_layers)
            self.project_speech = nn.Linear(speech_dim, dim)  # W_s
        if self.uses_text:
            self.project_text = nn.Linear(text_dim, dim)  # W_t
        self.modality = nn.Parameter(torch.zeros(2, dim).normal_(std=0.02))  # e_speech, e_text
        self.block = AttentionBlock(dim, heads, dropout)  # self (joined or alone), or speech -> text
        self.text_block = AttentionBlock(dim, heads, dropout) if fusion == "cross" else None  # text -> speech
        pooled = dim * (2 if pooling == "stat" else 1) * (2 if fusion == "cross" else 1)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(pooled, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, n_classes)
        )

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """StatPool [B, T, d] -> [B, 2d], or the mean alone (noSP) -> [B, d]."""
        pooled = masked_mean_std(x, mask)
        return pooled if self.pooling == "stat" else pooled[:, : x.shape[-1]]

    def forward(
        self,
        speech: torch.Tensor | None = None,
        speech_mask: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.uses_speech:
            if not bool(speech_mask.any(dim=1).all()):  # attention over no key at all would give NaN
                raise ValueError("every clip needs at least one speech frame (an empty or fully trimmed clip has none)")
            mixed = self.layer_mix.normalised(speech)  # each layer normalised, mixed [B, T, Ds]
            mixed, speech_mask = masked_stride_pool(mixed, speech_mask, self.speech_stride)
            s = self.project_speech(mixed) + self.modality[0]  # S' [B, T', d]
            out["layer_weights"] = self.layer_mix.weights.expand(len(speech), -1)  # [B, L]
        if self.uses_text:
            words = text[:, -1]  # [B, N, Dt]
            if self.text_feature == "cls":
                words, text_mask = words[:, :1], text_mask[:, :1]  # [B, 1, Dt]
            x = self.project_text(words) + self.modality[1]  # X' [B, N, d]
        if self.fusion == "cross":
            a, out["speech_to_text"] = self.block(s, x, text_mask)  # A [B, T', d], [B, T', N]
            b, out["text_to_speech"] = self.text_block(x, s, speech_mask)  # B [B, N, d], [B, N, T']
            z = torch.cat([self.pool(a, speech_mask), self.pool(b, text_mask)], dim=-1)  # [B, 4d] (noSP 2d)
        else:
            parts = [(s, speech_mask)] if self.uses_speech else []
            parts += [(x, text_mask)] if self.uses_text else []
            joined = torch.cat([p for p, _ in parts], dim=1)  # J [B, T'+N, d]
            mask = torch.cat([m for _, m in parts], dim=1)  # [B, T'+N]
            z, out["self_attention"] = self.block(joined, joined, mask)  # [B, T'+N, d], [B, T'+N, T'+N]
            z = self.pool(z, mask)  # [B, 2d] (noSP d)
        out["logits"] = self.classifier(z)  # [B, C]
        return out


class SslMhaEnsemble(nn.Module):
    """The mean of calibrated :class:`SslMhaNet` members that read other ranges of one encoder's layers: the
    served pair, one model of Whisper base's layers 0-3 beside one of all of them (as the served speech
    probe pairs its probes: the lower layers carry to new voices, all of them score more on RAVDESS).

    Inputs as :class:`SslMhaNet`'s, with ``speech [B, L, T, Ds]`` at every layer; member ``m`` reads layers
    ``member_layers[m] = (first, last)`` of them (None: all). Each answers ``softmax(logits_m / T_m)`` at its
    own temperature (fitted on its validation actors). Output: ``"logits"``, the log of their mean ``[B, C]``
    (a softmax of it is the mean probability); ``"layer_weights" [B, L]``, the members' mixes averaged (0
    where a member reads no such layer); each attention map the members' maps averaged (the same shapes:
    every member sees the same frames and word pieces).
    """

    def __init__(
        self,
        members: list[dict],
        temperatures: tuple[float, ...],
        member_layers: list[tuple[int, int] | None],
    ):
        super().__init__()
        if not len(members) == len(temperatures) == len(member_layers):
            raise ValueError(f"{len(members)} members, {len(temperatures)} temperatures, {len(member_layers)} readings")
        settings = {str(sorted((k, v) for k, v in kwargs.items() if k != "speech_layers")) for kwargs in members}
        if len(settings) > 1:  # fusion, pooling, text feature, stride: their attention maps would differ
            raise ValueError(f"the members differ in more than the layers they read: {sorted(settings)}")
        self.member_layers = [None if read is None else (int(read[0]), int(read[1])) for read in member_layers]
        for kwargs, read in zip(members, self.member_layers):
            if read is not None and kwargs.get("speech_layers", 5) != read[1] - read[0] + 1:
                raise ValueError(f"a member mixing {kwargs.get('speech_layers', 5)} layers is said to read {read}")
        self.members = nn.ModuleList(SslMhaNet(**kwargs) for kwargs in members)
        self.register_buffer("temperatures", torch.tensor(list(temperatures), dtype=torch.float32))

    def forward(
        self,
        speech: torch.Tensor | None = None,
        speech_mask: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        outputs, weights = [], []
        deepest = max((read[1] for read in self.member_layers if read is not None), default=-1)
        if deepest >= speech.shape[1]:  # every member reads speech
            raise ValueError(f"a member reads layer {deepest}, and the speech states hold {speech.shape[1]} layers")
        for member, read in zip(self.members, self.member_layers):
            layers = speech if read is None else speech[:, read[0] : read[1] + 1]  # [B, L_m, T, Ds]
            out = member(layers, speech_mask, text, text_mask)
            outputs.append(out)
            mix = torch.zeros(speech.shape[:2], dtype=out["layer_weights"].dtype, device=speech.device)  # [B, L]
            first = 0 if read is None else read[0]
            mix[:, first : first + out["layer_weights"].shape[1]] = out["layer_weights"]
            weights.append(mix)
        averaged = averaged_outputs(outputs, skip=("layer_weights",))  # the attention maps [B, ., .]
        return {
            **averaged,
            "layer_weights": torch.stack(weights).mean(dim=0),  # [B, L]
            "logits": calibrated_mean([out["logits"] for out in outputs], self.temperatures),  # [B, C]
        }
