"""Attention as in neural machine translation (Bahdanau et al. 2014; Luong et al. 2015), for any two sequences.

Words are *queries* ``h_t`` (t = 1..N), sounds are *keys* ``h̄_s`` (s = 1..M). Talk 000's three equations:

* score:  ``score(h_t, h̄_s)`` = ``h_t·h̄_s`` (dot), ``h_t^T W_a h̄_s`` (general) or
  ``v_a^T tanh(W_a [h_t; h̄_s])`` (concat, Bahdanau);
* align:  ``a_t(s) = exp(score(h_t, h̄_s)) / Σ_s' exp(score(h_t, h̄_s'))`` over the keys word t may see;
* context: ``c_t = Σ_s a_t(s) h̄_s``.

Which keys a word may see is the *alignment*, and it is what talk 000 found too flexible:

* :func:`global_attention`: every real key (N·M scores, the alignment must be learned from scratch);
* :func:`local_attention`: Luong's local-m, a window of 2w+1 keys around a position that moves
  monotonically through the audio (N·(2w+1) scores; only those are computed);
* :func:`span_mask` + :func:`global_attention`: forced alignment, each word sees only the frames
  where it is spoken (from ASR word timestamps), nothing left to learn about *where*.

A score is split in two steps, :meth:`Score.prepare` (the part that depends on a key alone,
computed once per key) and :meth:`Score.forward` (the pairwise part), so that local attention can
gather prepared keys into windows and score only those.
"""

from __future__ import annotations

import torch
from torch import nn

SCORES = ("dot", "general", "concat")


# --------------------------------------------------------------------------------------------
# Masks and the masked softmax
# --------------------------------------------------------------------------------------------


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B]`` lengths -> ``[B, max_len]`` bool, True on the first ``lengths[b]`` steps."""
    return torch.arange(max_len, device=lengths.device) < lengths[:, None]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over the positions where ``mask`` is True (eq. align); zero weight elsewhere.

    A row with no allowed position gets all-zero weights (not NaN, and no NaN gradient): masked
    scores are set to the dtype's most negative *finite* number, never to -inf.
    """
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return filled.softmax(dim=dim) * mask


def span_mask(word_frames: torch.Tensor, key_lengths: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Forced alignment: which frames each word may attend to. -> ``[B, N, M]`` bool.

    ``word_frames``: ``[B, N, 2]`` integer (start, end) frame indices per word, end exclusive,
    -1 where a word has no span; ``key_lengths``: ``[B]`` real frames per example; ``n_keys`` = M.
    Spans are clipped to the real frames. A word with no span, or whose span lies wholly past the
    end of the audio, falls back to *all* real frames (global attention for that word): it keeps a
    chance to find its sound instead of contributing nothing.
    """
    if word_frames.dim() != 3 or word_frames.shape[-1] != 2:
        raise ValueError(f"word_frames must be [batch, words, 2] (start, end) frames, got {tuple(word_frames.shape)}")
    start, end = word_frames.long().unbind(dim=-1)  # [B, N] each
    end = torch.minimum(end, key_lengths[:, None])
    has_span = (start >= 0) & (end > start)  # [B, N]
    frame = torch.arange(n_keys, device=word_frames.device)  # [M]
    inside = (frame >= start[..., None]) & (frame < end[..., None])  # [B, N, M]
    real = length_mask(key_lengths, n_keys)[:, None, :]  # [B, 1, M]
    return torch.where(has_span[..., None], inside, real)


# --------------------------------------------------------------------------------------------
# Score functions
# --------------------------------------------------------------------------------------------


def _pairwise_dot(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """``query [B, N, D]`` against shared ``keys [B, M, D]`` -> ``[B, N, M]``,
    or against per-query ``keys [B, N, K, D]`` -> ``[B, N, K]``."""
    if keys.dim() == 3:
        return torch.bmm(query, keys.transpose(1, 2))
    return (keys @ query.unsqueeze(-1)).squeeze(-1)


class Score(nn.Module):
    """``score(h_t, h̄_s)``: call ``score(query, score.prepare(keys))``.

    ``query``: ``[B, N, Dq]``. Prepared keys: ``[B, M, Dp]`` shared by every query (-> scores
    ``[B, N, M]``) or ``[B, N, K, Dp]``, K keys per query, e.g. a window (-> ``[B, N, K]``).
    """

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """The part of the score that depends on a key alone: ``[B, M, Dk]`` -> ``[B, M, Dp]``."""
        return keys


class DotScore(Score):
    """``h_t·h̄_s``: no parameters; queries and keys must have the same size."""

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return _pairwise_dot(query, keys)


class GeneralScore(Score):
    """``h_t^T W_a h̄_s`` = ``h_t · (W_a h̄_s)``: ``W_a h̄_s`` is computed once per key."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.W_a = nn.Linear(key_dim, query_dim, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        return self.W_a(keys)  # [B, M, Dq]

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return _pairwise_dot(query, keys)


class ConcatScore(Score):
    """Bahdanau's ``v_a^T tanh(W_a [h_t; h̄_s])``.

    ``W_a [h_t; h̄_s] = W_q h_t + W_k h̄_s`` with ``W_a = [W_q | W_k]`` split by columns, so
    ``W_k h̄_s`` is computed once per key and ``W_q h_t`` once per query; only the sum, tanh and
    ``v_a`` are paid per pair.
    """

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__()
        self.W_q = nn.Linear(query_dim, attention_dim, bias=False)
        self.W_k = nn.Linear(key_dim, attention_dim, bias=False)
        self.v_a = nn.Linear(attention_dim, 1, bias=False)

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        return self.W_k(keys)  # [B, M, A]

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        if keys.dim() == 3:
            keys = keys.unsqueeze(1)  # [B, 1, M, A]
        query = self.W_q(query).unsqueeze(2)  # [B, N, 1, A]
        return self.v_a(torch.tanh(query + keys)).squeeze(-1)  # [B, N, M or K]


def make_score(kind: str, query_dim: int, key_dim: int, attention_dim: int | None = None) -> Score:
    """A score function by name: ``"dot"``, ``"general"`` or ``"concat"`` (``attention_dim``
    defaults to ``query_dim``)."""
    if kind == "dot":
        if query_dim != key_dim:
            raise ValueError(f"the dot score needs queries and keys of one size, got {query_dim} and {key_dim}")
        return DotScore()
    if kind == "general":
        return GeneralScore(query_dim, key_dim)
    if kind == "concat":
        return ConcatScore(query_dim, key_dim, attention_dim or query_dim)
    raise ValueError(f"score must be one of {SCORES}, got {kind!r}")


# --------------------------------------------------------------------------------------------
# Alignments
# --------------------------------------------------------------------------------------------


def global_attention(
    score: Score, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every query scores every key it is allowed to see (``mask [B, N, M]``).

    ``query [B, N, Dq]``, ``keys [B, M, Dk]`` -> context ``c_t`` ``[B, N, Dk]`` and weights
    ``a_t(s)`` ``[B, N, M]`` (all zero on a row with nothing allowed).
    """
    scores = score(query, score.prepare(keys))  # score(h_t, h̄_s): [B, N, M]
    weights = masked_softmax(scores, mask)  # a_t(s): [B, N, M]
    return torch.bmm(weights, keys), weights  # c_t = Σ_s a_t(s) h̄_s: [B, N, Dk]


def monotonic_centres(query_lengths: torch.Tensor, key_lengths: torch.Tensor, n_queries: int) -> torch.Tensor:
    """Luong's local-m window centre ``p_t`` for each query: ``[B, N]`` long.

    Assumes the words share the real audio evenly: word t (0-based) of N_real is centred on the
    middle of its share, ``p_t = floor((t + 1/2) · M_real / N_real)``, so the first and last words
    sit half a word in from the edges rather than on them. Padded queries get a centre too; their
    rows are masked.
    """
    t = torch.arange(n_queries, device=query_lengths.device, dtype=torch.float64)  # [N]
    share = key_lengths.double() / query_lengths.clamp_min(1).double()  # [B] frames per word
    centres = torch.floor((t[None, :] + 0.5) * share[:, None]).long()  # [B, N]
    return torch.minimum(centres, (key_lengths - 1).clamp_min(0)[:, None])


def local_window(
    centres: torch.Tensor, half_width: int, key_lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2w+1 key positions around each centre: indices ``[B, N, 2w+1]`` (clamped into
    ``[0, M_real)`` so they can be gathered) and ``valid [B, N, 2w+1]`` (False where the window
    runs past either end of the real keys)."""
    offsets = torch.arange(-half_width, half_width + 1, device=centres.device)  # [W]
    positions = centres[..., None] + offsets  # [B, N, W]
    last = (key_lengths - 1).clamp_min(0)[:, None, None]  # [B, 1, 1]
    valid = (positions >= 0) & (positions <= last)
    return torch.minimum(positions.clamp_min(0), last), valid


def gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x [B, M, D]``, ``index [B, N, K]`` (positions in M) -> ``[B, N, K, D]``, ``x[b, index[b, n, k]]``."""
    batch, steps, dim = x.shape
    offsets = torch.arange(batch, device=x.device)[:, None, None] * steps  # [B, 1, 1]
    return x.reshape(batch * steps, dim)[index + offsets]


def local_attention(
    score: Score,
    query: torch.Tensor,
    keys: torch.Tensor,
    centres: torch.Tensor,
    half_width: int,
    key_lengths: torch.Tensor,
    query_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Luong's local attention: query t scores only the 2w+1 keys around ``centres[:, t]``.

    ``query [B, N, Dq]``, ``keys [B, M, Dk]``, ``centres [B, N]``, ``key_lengths [B]``,
    ``query_mask [B, N]`` -> context ``[B, N, Dk]`` and the weights scattered back to ``[B, N, M]``
    (zero outside each window) for plotting. Computes N·(2w+1) scores instead of N·M; the result
    equals :func:`global_attention` with a mask that keeps only the same windows.
    """
    index, valid = local_window(centres, half_width, key_lengths)  # [B, N, W] each
    valid = valid & query_mask[..., None]
    window_keys = gather_steps(score.prepare(keys), index)  # [B, N, W, Dp]
    scores = score(query, window_keys)  # score(h_t, h̄_s): [B, N, W]
    window_weights = masked_softmax(scores, valid)  # a_t(s): [B, N, W]
    window_values = gather_steps(keys, index)  # [B, N, W, Dk]
    context = (window_weights.unsqueeze(-2) @ window_values).squeeze(-2)  # c_t: [B, N, Dk]
    weights = window_weights.new_zeros(*centres.shape, keys.shape[1])  # [B, N, M]
    weights.scatter_add_(2, index, window_weights)
    return context, weights
