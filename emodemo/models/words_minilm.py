"""A words-only emotion model: the top layers of all-MiniLM-L6-v2 fine-tuned, attention pooling, an MLP.

MiniLM (a 6-layer BERT, 384-d) is split in two. Its bottom ``6 - k`` layers stay frozen: their
output for every word piece is computed once per line outside this module (the recipe caches it
while training and reads it from the packaged MiniLM when serving), so that this module, and the
checkpoint, hold only what training changed: the top ``k`` BERT layers (initialised from MiniLM's
own, :meth:`WordsMiniLM.load_top_layers`) and the head.

    X   = MiniLM_{1..6-k}(line)          frozen word-piece states (fp16 when cached)       [B, N, D]
    H   = BertLayer_{6-k+1..6}(X)        the fine-tuned top layers, padding masked out     [B, N, D]
    a_t = softmax_t(v^T tanh(W h_t))     attention pooling over the real pieces            [B, N]
    z   = sum_t a_t h_t                                                                    [B, D]
    y   = W_2 GELU(W_1 dropout(z))                                                         [B, C]

``top_layers=0`` is the frozen-encoder baseline: the head alone on MiniLM's last-layer states.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertLayer

MINILM_LAYERS = 6


class AttentionPool(nn.Module):
    """Additive attention pooling: ``x [B, N, D]``, ``mask [B, N]`` -> ``([B, D], weights [B, N])``."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))  # [B, N]
        weights = scores.softmax(dim=-1)  # [B, N]
        return torch.einsum("bn,bnd->bd", weights, x), weights


class WordsMiniLM(nn.Module):
    """Inputs ``text [B, N, D]`` (MiniLM's output of layer ``6 - top_layers``) and ``text_mask [B, N]``
    (True on real word pieces); returns ``{"logits": [B, C], "attention": [B, N]}``."""

    def __init__(
        self,
        n_classes: int,
        top_layers: int = 2,
        dim: int = 384,
        heads: int = 12,
        ffn: int = 1536,
        hidden: int = 256,
        dropout: float = 0.1,
    ):
        super().__init__()
        if not 0 <= top_layers <= MINILM_LAYERS:
            raise ValueError(f"top_layers must be 0 to {MINILM_LAYERS}, got {top_layers}")
        config = BertConfig(
            hidden_size=dim,
            num_attention_heads=heads,
            intermediate_size=ffn,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            layer_norm_eps=1e-12,
        )
        config._attn_implementation = "sdpa"
        self.layers = nn.ModuleList(BertLayer(config, layer_idx=i) for i in range(top_layers))
        self.pool = AttentionPool(dim)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def load_top_layers(self, encoder_layers: nn.ModuleList) -> None:
        """Start the top layers from a pre-trained encoder's last ``len(self.layers)`` layers."""
        for mine, theirs in zip(self.layers, list(encoder_layers)[len(encoder_layers) - len(self.layers) :]):
            mine.load_state_dict(theirs.state_dict())

    def encode(self, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """The top layers' output ``[B, N, D]`` (padding positions attend to nothing and are not attended)."""
        additive = torch.zeros_like(text_mask, dtype=text.dtype).masked_fill(~text_mask, torch.finfo(text.dtype).min)
        additive = additive[:, None, None, :]  # [B, 1, 1, N]
        for layer in self.layers:
            text = layer(text, attention_mask=additive)
        return text

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        states = self.encode(text.float(), text_mask)  # [B, N, D]
        pooled, weights = self.pool(states, text_mask)  # [B, D], [B, N]
        return {"logits": self.head(pooled), "attention": weights}
