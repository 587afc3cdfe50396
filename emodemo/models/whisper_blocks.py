"""Whisper's encoder blocks run on padded batches: the one piece of openai-whisper's network that the
frozen encoder (:mod:`emodemo.speech.speech_encoder`) and a model's trainable copies of its top blocks
(:mod:`emodemo.models.coattention`) both need, so it lives with the networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def run_blocks(blocks, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Whisper encoder blocks (``ResidualAttentionBlock``) over states ``x [B, T', d]`` whose padded
    steps (``mask [B, T']`` False) are hidden from every attention layer -> ``[B, T', d]``.

    Also runs trainable copies of the top blocks (talk 001's staged fine-tuning)."""
    key_mask = mask[:, None, None, :]  # [B, 1, 1, T'] for every head/query
    for block in blocks:
        x = x + _masked_self_attention(block.attn, block.attn_ln(x), key_mask)
        x = x + block.mlp(block.mlp_ln(x))
    return x


def _masked_self_attention(attn: nn.Module, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """openai-whisper's multi-head self-attention with padded keys masked out: [B, T, d] -> [B, T, d].

    Its own forward only knows causal masks, so the projections are applied here.
    """
    batch, length, dim = x.shape
    heads = attn.n_head

    def split(t: torch.Tensor) -> torch.Tensor:  # [B, T, d] -> [B, heads, T, d / heads]
        return t.view(batch, length, heads, dim // heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(
        split(attn.query(x)), split(attn.key(x)), split(attn.value(x)), attn_mask=key_mask
    )
    return attn.out(out.transpose(1, 2).reshape(batch, length, dim))
