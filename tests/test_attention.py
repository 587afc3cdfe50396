"""Score functions, masks and alignments of emodemo.models.attention (talk 000's equations)."""

from __future__ import annotations

import math

import pytest
import torch

from emodemo.models.attention import (
    ConcatScore,
    GeneralScore,
    gather_steps,
    global_attention,
    length_mask,
    local_attention,
    local_window,
    make_score,
    masked_softmax,
    monotonic_centres,
    span_mask,
)

QUERY = torch.tensor([[[1.0, 2.0]]])  # [B=1, N=1, D=2]
KEYS = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])  # [B=1, M=2, D=2]


def scores_of(score, query=QUERY, keys=KEYS):
    return score(query, score.prepare(keys))


def test_dot_score_by_hand():
    assert scores_of(make_score("dot", 2, 2)).tolist() == [[[11.0, 2.0]]]  # 1*3 + 2*4, 1*0 + 2*1


def test_general_score_by_hand():
    score = make_score("general", 2, 2)
    assert isinstance(score, GeneralScore)
    with torch.no_grad():
        score.W_a.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    # h_t^T W_a h̄_s: W_a (3, 4) = (3, 8) -> 3 + 16; W_a (0, 1) = (0, 2) -> 4
    assert scores_of(score).tolist() == [[[19.0, 4.0]]]


def test_concat_score_is_bahdanau_on_the_concatenation():
    score = make_score("concat", 2, 2, attention_dim=1)
    assert isinstance(score, ConcatScore)
    with torch.no_grad():
        score.W_q.weight.copy_(torch.tensor([[1.0, 0.0]]))
        score.W_k.weight.copy_(torch.tensor([[0.0, 1.0]]))
        score.v_a.weight.copy_(torch.tensor([[2.0]]))
    # W_a = [1 0 0 1]: W_a [h_t; h̄_s] = 1 + 4 = 5 and 1 + 1 = 2; v_a = 2
    expected = [2 * math.tanh(5.0), 2 * math.tanh(2.0)]
    assert torch.allclose(scores_of(score), torch.tensor([[expected]]))


def test_concat_score_equals_one_matrix_on_the_joined_vectors():
    torch.manual_seed(0)
    score = ConcatScore(3, 5, 4)
    query, keys = torch.randn(1, 1, 3), torch.randn(1, 6, 5)
    W_a = torch.cat([score.W_q.weight, score.W_k.weight], dim=1)  # [A, 3 + 5]
    joined = torch.cat([query.expand(1, 6, 3), keys], dim=-1)  # [1, M, 8]
    by_formula = (torch.tanh(joined @ W_a.T) @ score.v_a.weight.T).squeeze(-1)  # [1, M]
    assert torch.allclose(scores_of(score, query, keys)[0], by_formula, atol=1e-6)


@pytest.mark.parametrize("kind", ["dot", "general", "concat"])
def test_windows_of_keys_score_like_shared_keys(kind):
    torch.manual_seed(0)
    score = make_score(kind, 4, 4)
    query, keys = torch.randn(2, 3, 4), torch.randn(2, 7, 4)
    shared = scores_of(score, query, keys)  # [B, N, M]
    per_query = score(query, score.prepare(keys).unsqueeze(1).expand(2, 3, 7, 4))  # [B, N, M]
    assert torch.allclose(shared, per_query, atol=1e-5)


def test_make_score_rejects_bad_requests():
    with pytest.raises(ValueError, match="one size"):
        make_score("dot", 4, 6)
    with pytest.raises(ValueError, match="score must be one of"):
        make_score("cosine", 4, 4)


def test_masked_softmax_is_softmax_over_the_allowed_positions_and_zero_on_empty_rows():
    scores = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    weights = masked_softmax(scores, mask)
    kept = torch.softmax(torch.tensor([1.0, 3.0]), dim=0)
    assert torch.allclose(weights[0], torch.stack([kept[0], torch.tensor(0.0), kept[1]]))
    assert weights[1].tolist() == [0.0, 0.0, 0.0]
    (weights * torch.arange(3.0)).sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_length_mask():
    assert length_mask(torch.tensor([2, 0, 3]), 3).tolist() == [[True, True, False], [False] * 3, [True] * 3]


def test_monotonic_centres_put_each_word_in_the_middle_of_its_share():
    centres = monotonic_centres(torch.tensor([4, 2]), torch.tensor([40, 10]), n_queries=4)
    assert centres[0].tolist() == [5, 15, 25, 35]
    assert centres[1, :2].tolist() == [2, 7]
    assert (centres[1] < 10).all()  # padded words stay inside the real audio


def test_local_window_flags_positions_outside_the_real_keys():
    index, valid = local_window(torch.tensor([[0, 5]]), half_width=2, key_lengths=torch.tensor([6]))
    assert valid.tolist() == [[[False, False, True, True, True], [True, True, True, False, False]]]
    assert index[valid].tolist() == [0, 1, 2, 3, 4, 5]
    assert index.min() >= 0 and index.max() <= 5  # invalid ones clamped, so they can be gathered


def test_gather_steps_picks_each_examples_own_steps():
    x = torch.arange(2 * 5 * 3.0).view(2, 5, 3)
    index = torch.tensor([[[4, 0]], [[1, 1]]])  # [B=2, N=1, K=2]
    gathered = gather_steps(x, index)
    assert gathered.shape == (2, 1, 2, 3)
    assert torch.equal(gathered[0, 0], x[0, [4, 0]]) and torch.equal(gathered[1, 0], x[1, [1, 1]])


@pytest.mark.parametrize("kind", ["dot", "general", "concat"])
def test_local_attention_equals_global_attention_restricted_to_the_window(kind):
    torch.manual_seed(0)
    batch, n_words, n_frames, half_width, dim = 3, 5, 40, 3, 8
    score = make_score(kind, dim, dim)
    query, keys = torch.randn(batch, n_words, dim), torch.randn(batch, n_frames, dim)
    query_lengths, key_lengths = torch.tensor([5, 3, 1]), torch.tensor([40, 25, 9])
    query_mask = length_mask(query_lengths, n_words)
    centres = monotonic_centres(query_lengths, key_lengths, n_words)

    computed = []
    score.register_forward_hook(lambda module, inputs, output: computed.append(output.numel()))
    context, weights = local_attention(score, query, keys, centres, half_width, key_lengths, query_mask)

    frame = torch.arange(n_frames)
    in_window = (frame - centres[..., None]).abs() <= half_width  # [B, N, M]
    allowed = in_window & length_mask(key_lengths, n_frames)[:, None, :] & query_mask[..., None]
    global_context, global_weights = global_attention(score, query, keys, allowed)

    assert torch.allclose(context, global_context, atol=1e-5)
    assert torch.allclose(weights, global_weights, atol=1e-6)
    assert computed == [batch * n_words * (2 * half_width + 1), batch * n_words * n_frames]
    assert torch.allclose(weights.sum(-1), query_mask.float(), atol=1e-6)  # real words sum to 1, padded to 0


def test_span_mask_keeps_each_words_frames_and_falls_back_to_all_real_frames():
    word_frames = torch.tensor([[[1, 3], [-1, -1], [4, 9], [8, 12]]])  # [B=1, N=4, 2]
    mask = span_mask(word_frames, key_lengths=torch.tensor([6]), n_keys=8)
    real = [True] * 6 + [False] * 2
    assert mask[0, 0].tolist() == [False, True, True] + [False] * 5
    assert mask[0, 1].tolist() == real  # no span: every real frame
    assert mask[0, 2].tolist() == [False] * 4 + [True, True, False, False]  # clipped to the real audio
    assert mask[0, 3].tolist() == real  # span wholly past the audio: every real frame


def test_span_mask_rejects_a_bad_shape():
    with pytest.raises(ValueError, match=r"\[batch, words, 2\]"):
        span_mask(torch.zeros(2, 3, dtype=torch.long), torch.tensor([4, 4]), 4)
