"""Text in: MiniLM word-piece states and sentence embeddings, and GloVe word vectors.

Two pre-trained front ends, both offline (see :mod:`emodemo.weights.assets` for where weights come from):

* **all-MiniLM-L6-v2** (a 6-layer BERT, 384-d): :func:`encode_tokens` gives contextual states
  for every word piece (at every layer if asked; any ``transformers`` encoder by name too),
  :func:`sentence_embedding` their masked mean, L2-normalised (the
  sentence-transformers recipe the model was trained for);
* **GloVe** (static word vectors; packaged 6B 50-d, or any GloVe text file such as 840B 300-d):
  :func:`tokenize` splits text the way GloVe's corpus was split, :class:`Glove` looks words up
  and builds the matrix that initialises a model's ``nn.Embedding``.

Models and vectors are loaded once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emodemo.core.files import cache_dir
from emodemo.weights import assets

# --------------------------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------------------------

MINILM_DIM = 384


@dataclass
class TokenStates:
    """Contextual word-piece states of a batch of texts.

    ``states``: ``[B, L, D]`` last-layer states (L = longest text in pieces, [CLS] and [SEP]
    included; D = 384 for MiniLM); ``mask``: ``[B, L]`` True on real pieces; ``tokens``: each
    text's real pieces; ``layers``: when asked for, ``[B, n_layers + 1, L, D]``: index 0 the
    embeddings, index i the output of layer i (the last equals ``states``). Zero on padding.
    """

    states: torch.Tensor
    mask: torch.Tensor
    tokens: list[list[str]]
    layers: torch.Tensor | None = None


MINILM = "minilm"  # the packaged all-MiniLM-L6-v2; any other name is a transformers id or folder


@functools.cache
def load_minilm(device: str = "cpu"):
    """``(tokenizer, model, asset)`` of all-MiniLM-L6-v2, loaded once per device, frozen, offline."""
    from transformers import AutoModel, AutoTokenizer

    asset = assets.minilm()
    tokenizer = AutoTokenizer.from_pretrained(str(asset.path), local_files_only=True)
    model = AutoModel.from_pretrained(str(asset.path), local_files_only=True).to(device).eval()
    model.requires_grad_(False)
    return tokenizer, model, asset


@functools.cache
def load_text_encoder(name: str = MINILM, device: str = "cpu"):
    """``(tokenizer, model)`` of a frozen token encoder, loaded once per (name, device).

    ``"minilm"``: the packaged all-MiniLM-L6-v2 (offline). Anything else: a ``transformers`` id
    such as ``"bert-base-uncased"`` or ``"t5-base"`` (the talks' text encoders; downloaded from the
    Hub when online) or a local folder. Of an encoder-decoder model (T5) only the encoder is kept.
    """
    if name == MINILM:
        tokenizer, model, _ = load_minilm(device)
        return tokenizer, model
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModel.from_pretrained(name)
    except OSError as error:
        raise FileNotFoundError(
            f"cannot load the text encoder {name!r}: {error}. Offline, use the packaged "
            f"{MINILM!r}, or a folder holding a saved transformers model"
        ) from None
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    model = model.to(device).eval()
    model.requires_grad_(False)
    return tokenizer, model


def _text_list(texts: str | Sequence[str]) -> list[str]:
    listed = [texts] if isinstance(texts, str) else list(texts) if isinstance(texts, (list, tuple)) else []
    if not listed or not all(isinstance(t, str) for t in listed):
        raise ValueError("expected a string or a non-empty sequence of strings")
    return listed


@torch.no_grad()
def encode_tokens(
    texts: str | Sequence[str],
    max_length: int = 128,
    device: str = "cpu",
    encoder: str = MINILM,
    all_layers: bool = False,
) -> TokenStates:
    """States of each word piece of ``texts`` (cut at ``max_length`` pieces) from ``encoder``
    (see :func:`load_text_encoder`); every layer's too when ``all_layers``."""
    tokenizer, model = load_text_encoder(encoder, device)
    batch = tokenizer(_text_list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(
        device
    )
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    output = model(**inputs, output_hidden_states=all_layers)
    mask = batch["attention_mask"].bool()  # [B, L]
    states = output.last_hidden_state * mask[..., None]  # [B, L, D]
    layers = None
    if all_layers:
        layers = torch.stack(output.hidden_states, dim=1) * mask[:, None, :, None]  # [B, n+1, L, D]
    tokens = [
        tokenizer.convert_ids_to_tokens(ids[row_mask].tolist()) for ids, row_mask in zip(batch["input_ids"], mask)
    ]
    return TokenStates(states, mask, tokens, layers)


def sentence_embedding(texts: str | Sequence[str], max_length: int = 128, device: str = "cpu") -> torch.Tensor:
    """One unit-length 384-d vector per text: the masked mean of its MiniLM states. -> ``[B, 384]``"""
    encoded = encode_tokens(texts, max_length=max_length, device=device)
    summed = encoded.states.sum(dim=1)  # [B, 384]
    mean = summed / encoded.mask.sum(dim=1, keepdim=True).clamp(min=1)
    return torch.nn.functional.normalize(mean, dim=-1)


# --------------------------------------------------------------------------------------------
# GloVe
# --------------------------------------------------------------------------------------------

# Clitics GloVe's tokenizer (Stanford PTB-style) splits off: "don't" -> "do" "n't", "it's" -> "it" "'s".
CLITICS = ("n't", "'s", "'re", "'ve", "'m", "'ll", "'d")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # a run of letters, with apostrophes inside it


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split text into GloVe-style words: letter runs, clitics split off, digits and punctuation dropped.

    Curly apostrophes count as straight ones; an apostrophe survives only inside a word
    ("o'neil") or at the start of a clitic; leading/trailing ones are dropped ("dogs'" -> "dogs").
    """
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    if lowercase:
        text = text.lower()
    words = []
    for word in _WORD.findall(text):
        clitic = next((c for c in CLITICS if word.lower().endswith(c) and len(word) > len(c)), None)
        if clitic:
            words += [word[: -len(clitic)], word[-len(clitic) :]]
        else:
            words.append(word)
    return words


class Glove:
    """GloVe vectors with a vocabulary: ``glove.vectors(["happy", "glad"]) -> [2, dim]``.

    Lookups try the word as given, then lowercased (so cased 840B files and the uncased 6B
    vectors both work with :func:`tokenize`'s output).
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, source: str):
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
        self.words = list(words)
        self.matrix = np.asarray(vectors, dtype=np.float32)  # [V, dim]
        self.index: dict[str, int] = {}
        for row, word in enumerate(self.words):
            self.index.setdefault(word, row)  # some files repeat a word: keep the first, most frequent
        self.source = source

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return self.row(word) is not None

    def row(self, word: str) -> int | None:
        """Row of ``word`` in :attr:`matrix`, or None when out of vocabulary."""
        found = self.index.get(word)
        return self.index.get(word.lower()) if found is None else found

    def vectors(self, words: Iterable[str]) -> np.ndarray:
        """``[n, dim]`` vectors of ``words``; out-of-vocabulary words get zero vectors."""
        rows = [self.row(w) for w in words]
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        known = [i for i, r in enumerate(rows) if r is not None]
        out[known] = self.matrix[[rows[i] for i in known]]
        return out

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two in-vocabulary words."""
        missing = [w for w in (a, b) if w not in self]
        if missing:
            raise KeyError(f"not in the GloVe vocabulary: {missing}")
        va, vb = self.vectors([a, b])
        return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))

    def coverage(self, words: Iterable[str]) -> float:
        """Fraction of ``words`` that have a vector."""
        words = list(words)
        return sum(w in self for w in words) / max(len(words), 1)

    def embedding_matrix(self, vocab: Sequence[str], pad_token: str | None = "<pad>", seed: int = 0) -> np.ndarray:
        """``[len(vocab), dim]`` initial weights for ``nn.Embedding`` over a model's ``vocab``.

        Row i is the vector of ``vocab[i]``; out-of-vocabulary rows are drawn from a normal with
        GloVe's own per-dimension spread (seeded, so reproducible); ``pad_token``'s row is zero.
        """
        rng = np.random.default_rng(seed)
        out = rng.normal(0.0, self.matrix.std(axis=0), size=(len(vocab), self.dim)).astype(np.float32)
        for i, word in enumerate(vocab):
            row = self.row(word)
            if word == pad_token:
                out[i] = 0.0
            elif row is not None:
                out[i] = self.matrix[row]
        return out


@functools.cache
def load_glove(path: str | None = None, limit: int | None = None) -> Glove:
    """GloVe vectors, loaded once: the packaged 6B 50-d, or a GloVe text file (``path`` or
    ``$EMODEMO_GLOVE``; ``limit`` keeps its first, most frequent, words).

    A text file is parsed once and cached as ``.npy`` + word list under ``$EMODEMO_CACHE/glove``.
    """
    asset = assets.glove(path)
    if asset.path.is_dir():
        return _packaged_glove(asset)
    return _text_glove(asset, limit)


def _packaged_glove(asset: assets.Asset) -> Glove:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError("reading the packaged GloVe index needs pyarrow: pip install pyarrow") from error
    words = pq.read_table(asset.path / "glove_6B_index.parquet").column("index").to_pylist()
    return Glove(words, np.load(asset.path / "glove_6B_50d_emb.npy"), asset.source)


def _text_glove(asset: assets.Asset, limit: int | None) -> Glove:
    stat = asset.path.stat()
    folder = cache_dir() / "glove"
    key = f"{asset.path.name}-{stat.st_size}-{int(stat.st_mtime)}-{limit or 'all'}"
    words_file, vectors_file = folder / f"{key}.words.txt", folder / f"{key}.npy"
    if not vectors_file.is_file():
        words, vectors = _parse_glove_text(asset.path, limit)
        folder.mkdir(parents=True, exist_ok=True)
        words_file.write_text("\n".join(words), encoding="utf-8")
        np.save(vectors_file, vectors)
    words = words_file.read_text(encoding="utf-8").split("\n")
    return Glove(words, np.load(vectors_file), asset.source)


def _parse_glove_text(path: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    """Lines ``word v1 ... vD``; the dimension is read from the first line, and the vector is the
    last D fields (some 840B "words" contain spaces)."""
    words, rows, dim = [], [], None
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if limit is not None and len(words) >= limit:
                break
            fields = line.rstrip("\n").split(" ")
            dim = dim or len(fields) - 1
            if len(fields) < dim + 1:
                raise ValueError(f"{path}:{number}: expected a word and {dim} numbers")
            words.append(" ".join(fields[:-dim]))
            rows.append(np.asarray(fields[-dim:], dtype=np.float32))
    if not rows:
        raise ValueError(f"{path} holds no vectors: is it a GloVe text file?")
    return words, np.stack(rows)
