"""Talk 004: FE2E and MESM (Dai et al., NAACL 2021), end-to-end and cross-modal sparse models.

Each modality is a sequence: the audio is S spectrogram chunks (400 ms of log-mel each), the words
are word pieces, the video is face frames. **FE2E** (fully end-to-end) runs a small CNN on every
chunk (or face), a transformer over each modality's sequence, and fuses the modalities late:

    chunk [1, F, T] --front--> M [C, H, W] --back--> mean over H x W --> [D]       (per chunk)
    [S, D] --transformer--> mean over chunks --> modality vector [d]
    concat(text, audio, visual vectors) --> linear --> one logit per emotion       (BCE, multi-label)

**MESM** (multimodal end-to-end sparse model) inserts the text between ``front`` and ``back``:
the clip's text vector q asks each chunk's feature map M where to look (the paper's eqs. 1-4):

    M_q  = tanh((W_m M + b_m) (+) W_q q)          [k, H, W]  ((+): W_q q added at every position)
    M_i  = softmax over H x W of (W_i M_q + b_i)  [H, W]     spatial attention of the chunk
    M_ns = nucleus sampling of M_i at top-p       the smallest set of positions whose attention
                                                  sums to at least p keeps its weight, the rest 0
    M_o  = M_ns (x) M                             [C, H, W]  sparse: most positions are 0

and ``back`` runs as **submanifold sparse convolutions**: each 3x3 convolution is computed only
at the kept positions (gathering their neighbours, dropped ones counting as 0), as one matrix
product of ``[kept, 9 C_in] x [9 C_in, C_out]``. Dropped positions are never computed, so the
FLOPs of ``back`` fall with p (not just multiplied by zero); :mod:`bench/mesm.py` counts them with
PyTorch's FLOP counter and times them.

Or (``speech_layers``) the audio is a frozen speech encoder's states in place of the log-mel: a learned mix
of Whisper's layers (each layer normalised), each 20 ms frame projected to 64 channels, cut into the same
400 ms chunks (20 frames), so that every chunk is a ``[64, 20]`` map for the same CNN and sparse attention.
Trained from scratch on 1,200 RAVDESS clips, the log-mel CNN learns the actors' voices; the pre-trained
states carry to new ones (issue 20). ``speech_plain`` (not in the talk) hands the head the plain mean and standard
deviation of every real frame of the mixed states beside the modality vectors: a 400 ms chunk of slow speech holds
fewer syllables than one of fast speech, which the chunk CNN reads as emotion (TESS's slow takes as "disgust"); the
clip's statistics do not move so with tempo (co-attention's ``speech_plain`` likewise).
``chunk_norm="group"`` (not in the talk) puts group norm in the chunk CNN in place of batch norm: batch norm's running
statistics are RAVDESS's, and on another corpus they shift the CNN's maps enough that each fold model answers one class
for many clips (a diagnosis: the same models with statistics re-estimated on TESS's choose half, which may not be
served, went from 33-63 % of one answer to 21-34 %); a chunk normalised by its own statistics meets none of that.
``voice_dropout`` (not in the talk; training only) hides the voice from the head for that share of clips, drawn anew
each batch: the head then reads the words' vector alone (the voice's vector and statistics zeroed, not rescaled), so the
words must learn to answer by themselves. Without it a strong voice side settles the training loss first and the words
learn little (the greedy learning of multimodal networks); for words that carry nothing (a RAVDESS sentence, no words)
the words' answer learns to stay flat. At evaluation the head reads every modality, as before.

Inputs (any subset, as the ``modalities`` string says: "T", "A", "V"):
``text [B, N, Dt]`` frozen word-piece states with ``text_mask [B, N]``; ``audio [B, S, F, T]``
log-mel chunks with ``audio_mask [B, S]``, or with ``speech_layers`` the states ``audio [B, L, M, D]``
with their frame mask ``audio_mask [B, M]``; ``visual [B, Sv, 48, 48]`` face frames (pixels 0..255)
with ``visual_mask [B, Sv]``. Output: ``logits [B, C]`` and, for each sparse branch, the kept
attention ``<branch>_attention [B, S, H, W]`` (0 where dropped); with ``speech_layers``, also the maps the
audio CNN read, ``audio_chunks [B, S, 64, 20]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ensemble import FoldMean
from .fer_cnn import FER_MEAN, FER_STD
from .layers import LayerMix, masked_mean, masked_mean_std

STATE_CHANNELS, STATE_CHUNK = 64, 20  # each frame of the states projected to 64 channels; 20 frames (400 ms) a chunk
NORMS = {"batch": nn.BatchNorm2d, "group": lambda channels: nn.GroupNorm(channels // 4, channels)}  # ChunkCNN's norm
OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # a 3x3 neighbourhood, row-major like conv weights


def nucleus_mask(attention: torch.Tensor, p: float) -> torch.Tensor:
    """Top-p over the last dimension: the smallest set of entries, largest first, whose sum reaches
    ``p`` (the entry that crosses it included). attention [N, P] (rows sum to 1) -> bool [N, P]."""
    ordered, order = attention.sort(dim=-1, descending=True)
    before = ordered.cumsum(dim=-1) - ordered  # mass of the larger entries
    keep_sorted = before < p  # first entry always kept
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def neighbour_index(sites: torch.Tensor, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Flat positions in a zero-bordered canvas of maps ``shape`` = (N, H, W): of each active site
    (sites [K, 3] = map, row, col) -> centre [K], and of its 3x3 neighbourhood -> [K, 9]; and the
    canvas size. Computed once per forward pass and shared by every sparse layer."""
    n, h, w = shape
    centre = (sites[:, 0] * (h + 2) + sites[:, 1] + 1) * (w + 2) + sites[:, 2] + 1  # [K]
    shifts = torch.tensor([dy * (w + 2) + dx for dy, dx in OFFSETS], device=sites.device)  # [9]
    return centre, centre[:, None] + shifts, n * (h + 2) * (w + 2)


def sparse_conv3x3(
    features: torch.Tensor, centre: torch.Tensor, neighbours: torch.Tensor, cells: int, conv: nn.Conv2d
) -> torch.Tensor:
    """A 3x3 convolution (padding 1) computed at the active sites only (:func:`neighbour_index`).

    features [K, C_in] at the sites; positions that are not active count as 0, as in the dense
    convolution of the zero-filled map. Returns [K, C_out]: one gather and one matrix product of the
    neighbourhoods with the kernel, 2 K 9 C_in C_out FLOPs.
    """
    canvas = features.new_zeros(cells, features.shape[1])  # zero border = padding
    canvas[centre] = features
    gathered = canvas[neighbours].reshape(len(centre), -1)  # [K, 9 C_in]
    weight = conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, -1)  # [C_out, 9 C_in]
    out = gathered @ weight.t()  # [K, C_out]
    return out + conv.bias if conv.bias is not None else out


def checked_voice_dropout(share: float, modalities: str) -> float:
    """``share`` as a float when it is a share of clips (0 <= share < 1; 0: off) whose voice a model of voice and words
    can hide from its head; a ``ValueError`` that says why not otherwise."""
    share = float(share)
    if share and not (0 < share < 1 and set("TA") <= set(modalities.upper())):
        raise ValueError(
            f"voice_dropout is the share of training clips (0 to 1) whose voice the head does not hear, for a model of "
            f"voice and words (modalities TA), not {share!r} with modalities {modalities!r}"
        )
    return share


class ChunkCNN(nn.Module):
    """The per-chunk CNN: ``front`` (dense) -> feature map M -> optional cross-modal sparse
    attention -> ``back`` (a 3x3 and two 1x1 conv, each + norm + ReLU; dense, or sparse at the kept
    positions) -> mean over positions.

    ``norm``: ``"batch"`` (the talk's CNN: batch norm, whose running statistics are the training corpus's) or
    ``"group"`` (group norm, 4 channels a group: each chunk normalised by its own statistics, over its positions, or
    its kept sites in the sparse ``back``, so training and serving normalise alike whatever corpus a clip is from)."""

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (16, 32, 128, 256),
        query_dim: int | None = None,
        attention_dim: int = 32,
        norm: str = "batch",
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        c1, c2, c3, c4 = widths
        normed = NORMS[norm]
        self.front = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),
            normed(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            normed(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        # back: a 3x3 convolution, then two 1x1 (per-position) layers that hold most of the FLOPs
        self.back = nn.ModuleList(
            [
                nn.Conv2d(c2, c3, 3, padding=1, bias=False),
                normed(c3),
                nn.Conv2d(c3, c4, 1, bias=False),
                normed(c4),
                nn.Conv2d(c4, c4, 1, bias=False),
                normed(c4),
            ]
        )
        self.dim = c4
        if query_dim is not None:  # MESM's attention (eqs. 1-2)
            self.w_m = nn.Conv2d(c2, attention_dim, 1)  # W_m, b_m
            self.w_q = nn.Linear(query_dim, attention_dim, bias=False)  # W_q
            self.w_i = nn.Conv2d(attention_dim, 1, 1)  # W_i, b_i

    def forward(
        self, chunks: torch.Tensor, query: torch.Tensor | None = None, top_p: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """chunks [N, 1, F, T] (query [N, Dq] per chunk) -> ([N, D], kept attention [N, H, W] or None)."""
        m = self.front(chunks)  # M [N, C2, H, W]
        if query is None:
            return self._dense_back(m), None
        m_q = torch.tanh(self.w_m(m) + self.w_q(query)[:, :, None, None])  # (1) [N, k, H, W]
        n, _, h, w = m.shape
        m_i = self.w_i(m_q).flatten(1).softmax(dim=-1)  # (2) [N, H*W]
        keep = nucleus_mask(m_i, top_p if top_p is not None else 1.0)  # (3) [N, H*W]
        kept_attention = (m_i * keep).view(n, h, w)  # M_ns
        sites = keep.view(n, h, w).nonzero()  # [K, 3]
        features = (m * kept_attention[:, None]).permute(0, 2, 3, 1)[
            sites[:, 0], sites[:, 1], sites[:, 2]
        ]  # (4) [K, C2]
        index = neighbour_index(sites, (n, h, w))
        kept_sites = keep.sum(dim=1)  # [N]
        for conv, norm in zip(self.back[0::2], self.back[1::2]):
            if conv.kernel_size == (3, 3):
                features = sparse_conv3x3(features, *index, conv)  # [K, C_out]
            else:  # 1x1: a plain product
                features = features @ conv.weight.view(conv.out_channels, -1).t()
            features = F.relu(self._norm(features, norm, sites[:, 0], kept_sites))
        pooled = features.new_zeros(n, features.shape[1]).index_add_(0, sites[:, 0], features)
        return pooled / kept_sites[:, None], kept_attention  # mean over kept sites

    def _dense_back(self, m: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.back[0::2], self.back[1::2]):
            m = F.relu(norm(conv(m)))
        return m.mean(dim=(2, 3))  # [N, C4]

    @staticmethod
    def _norm(x: torch.Tensor, norm: nn.Module, owner: torch.Tensor, kept_sites: torch.Tensor) -> torch.Tensor:
        """The layer's norm on ``[K, C]`` site features, ``owner [K]`` each site's chunk, ``kept_sites [n]`` each
        chunk's count: batch norm's statistics over every kept site, group norm's over each chunk's kept sites."""
        if isinstance(norm, nn.BatchNorm2d):
            return F.batch_norm(
                x, norm.running_mean, norm.running_var, norm.weight, norm.bias, norm.training, norm.momentum, norm.eps
            )
        (k, c), n = x.shape, len(kept_sites)
        grouped = x.view(k, norm.num_groups, c // norm.num_groups)  # [K, G, C/G]
        sites = kept_sites[:, None] * grouped.shape[-1]  # values per group [n, 1]
        mean = x.new_zeros(n, norm.num_groups).index_add_(0, owner, grouped.sum(-1)) / sites  # [n, G]
        square = x.new_zeros(n, norm.num_groups).index_add_(0, owner, grouped.square().sum(-1)) / sites
        variance = (square - mean.square()).clamp_min(0)  # [n, G]
        normed = (grouped - mean[owner, :, None]) / (variance[owner, :, None] + norm.eps).sqrt()
        return normed.view(k, c) * norm.weight + norm.bias


class SequenceEncoder(nn.Module):
    """Project a modality's sequence to d, add positions, one transformer layer, masked mean -> [B, d]."""

    def __init__(self, in_dim: int, dim: int, heads: int, max_len: int, dropout: float):
        super().__init__()
        self.project = nn.Linear(in_dim, dim)
        self.position = nn.Parameter(torch.zeros(max_len, dim))
        self.layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.project(x) + self.position[: x.shape[1]]  # [B, S, d]
        h = self.layer(h, src_key_padding_mask=~mask)
        return masked_mean(h, mask)  # [B, d]


class Mesm(nn.Module):
    def __init__(
        self,
        n_classes: int,
        modalities: str = "TA",
        sparse: bool = True,
        top_p: float = 0.7,
        text_dim: int = 384,
        dim: int = 64,
        heads: int = 4,
        max_chunks: int = 32,
        dropout: float = 0.2,
        widths: tuple[int, int, int, int] = (16, 32, 128, 256),
        speech_layers: int = 0,
        speech_dim: int = 512,
        speech_plain: bool = False,
        chunk_norm: str = "batch",
        voice_dropout: float = 0.0,
    ):
        super().__init__()
        self.modalities = modalities.upper()
        unknown = set(self.modalities) - set("TAV")
        if unknown or not self.modalities:
            raise ValueError(f"modalities must be letters of 'TAV' (text, audio, visual), got {modalities!r}")
        if sparse and "T" not in self.modalities:
            raise ValueError("MESM's sparse attention is queried by the text: add 'T' or use sparse=False (FE2E)")
        if speech_plain and not (speech_layers and "A" in self.modalities):
            raise ValueError("speech_plain pools frozen speech states: add speech_layers, with the audio ('A')")
        self.voice_dropout = checked_voice_dropout(voice_dropout, self.modalities)
        self.sparse, self.top_p = sparse, float(top_p)
        self.speech_plain = bool(speech_plain)
        query = dim if sparse else None
        if "T" in self.modalities:
            self.text = SequenceEncoder(text_dim, dim, heads, 512, dropout)
        if "A" in self.modalities:
            self.audio_cnn = ChunkCNN(widths, query, norm=chunk_norm)
            self.audio = SequenceEncoder(self.audio_cnn.dim, dim, heads, max_chunks, dropout)
            if speech_layers:  # frozen states in place of the log-mel
                self.speech_mix = LayerMix(speech_layers)
                self.speech_project = nn.Linear(speech_dim, STATE_CHANNELS)
        if "V" in self.modalities:
            self.visual_cnn = ChunkCNN(widths, query, norm=chunk_norm)
            self.visual = SequenceEncoder(self.visual_cnn.dim, dim, heads, max_chunks, dropout)
        plain_dim = 2 * speech_dim if self.speech_plain else 0  # the frames' mean and spread
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim * len(self.modalities) + plain_dim, n_classes))

    def forward(
        self,
        text: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        visual: torch.Tensor | None = None,
        visual_mask: torch.Tensor | None = None,
        top_p: float | None = None,
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        vectors, voice = [], []  # what the head reads; the indices of the voice's own parts in it
        q = None
        if "T" in self.modalities:
            q = self.text(text, text_mask)  # [B, d]
            vectors.append(q)
        for letter, name, x, mask in (("A", "audio", audio, audio_mask), ("V", "visual", visual, visual_mask)):
            if letter not in self.modalities:
                continue
            if name == "visual":
                x = (x.float() - FER_MEAN) / FER_STD  # face pixels, as fer_cnn
            elif hasattr(self, "speech_mix"):
                mixed = self.speech_mix.normalised(x)  # [B, M, Ds]
                if self.speech_plain:
                    voice.append(len(vectors))
                    vectors.append(masked_mean_std(mixed, mask))  # [B, 2 Ds]
                x, mask = self.state_chunks(mixed, mask)
                out["audio_chunks"] = x
            chunks = x[mask].unsqueeze(1)  # [N, 1, F, T], real chunks only
            owner = mask.nonzero()[:, 0]  # clip of each chunk [N]
            cnn = getattr(self, f"{name}_cnn")
            per_chunk, kept = cnn(chunks, q[owner] if self.sparse else None, top_p if top_p is not None else self.top_p)
            sequence = per_chunk.new_zeros(*mask.shape, per_chunk.shape[-1])
            sequence[mask] = per_chunk  # [B, S, D]
            if name == "audio":
                voice.append(len(vectors))
            vectors.append(getattr(self, name)(sequence, mask))  # [B, d]
            if kept is not None:
                attention = kept.new_zeros(*mask.shape, *kept.shape[1:])
                attention[mask] = kept
                out[f"{name}_attention"] = attention  # [B, S, H, W]
        if self.training and self.voice_dropout:
            heard = (torch.rand(len(vectors[0]), 1, device=vectors[0].device) >= self.voice_dropout).to(vectors[0])
            vectors = [v * heard if i in voice else v for i, v in enumerate(vectors)]  # [B, 1] per clip: 0 = hidden
        out["logits"] = self.head(torch.cat(vectors, dim=-1))  # [B, C] from [B, d per modality (+ 2 Ds plain)]
        return out

    def state_chunks(self, mixed: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed speech states ``[B, M, D]`` (``speech_mix.normalised`` of ``[B, L, M, D]``) with their frame mask
        ``[B, M]`` -> chunk maps ``[B, S, 64, 20]`` (padded frames 0) and the chunk mask ``[B, S]`` (a chunk is real
        when any of its frames is)."""
        x = self.speech_project(mixed) * frames[..., None]  # [B, M, 64]
        b, m, _ = x.shape
        s = -(-m // STATE_CHUNK)
        x = F.pad(x, (0, 0, 0, s * STATE_CHUNK - m))  # [B, S*20, 64]
        chunks = x.view(b, s, STATE_CHUNK, STATE_CHANNELS).transpose(2, 3)  # [B, S, 64, 20]
        mask = F.pad(frames, (0, s * STATE_CHUNK - m)).view(b, s, STATE_CHUNK).any(dim=-1)  # [B, S]
        return chunks, mask


class MesmMean(FoldMean):
    """The mean of calibrated :class:`Mesm` members: the models of a run's 5 cross-validation folds, or two runs' fold
    pairs' 10 (:class:`~emodemo.models.ensemble.FoldMean`); each chunk's kept positions the members' average (the
    share of members that kept each, weighted), as the app draws them."""

    MEMBER = Mesm
    HEAD_OPTIONS = frozenset({"speech_plain"})  # the frames' statistics, beside the chunks, for the head alone
    TRAINING_OPTIONS = frozenset({"voice_dropout"})  # the voice hidden from the head for some training clips
