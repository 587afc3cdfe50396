"""Figures render without a display, carry the right axes and labels, and save as PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from emodemo.core.metrics import classification_report
from emodemo.reports.viz import (
    LABELLED_ROWS,
    attention_grid,
    attention_heatmap,
    confusion_matrix_figure,
    confusion_matrix_plotly,
    kept_positions,
    row_normalised,
    training_curves,
    wave_outline,
)
from emodemo.training.history import EpochRecord, History

LABELS = ["neutral", "happy", "sad", "angry"]
WORDS = ["kids", "are", "talking"]
WORD_TIMES = [(0.2, 0.5), (0.5, 0.7), (0.7, 1.3)]


@pytest.fixture
def report():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60)  # "angry" never occurs
    return classification_report(y_true, np.where(rng.random(60) < 0.7, y_true, 1), LABELS)


def is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_row_normalised_gives_recall_on_the_diagonal_and_zero_rows_for_absent_classes(report):
    shares = row_normalised(report["confusion_matrix"])
    recalls = [report["per_class"][name]["recall"] for name in LABELS]
    assert np.diag(shares) == pytest.approx(recalls)
    assert shares[3].tolist() == [0, 0, 0, 0]


def test_confusion_matrix_figure_labels_axes_and_cells(report, tmp_path):
    fig = confusion_matrix_figure(report["confusion_matrix"], LABELS, title="toy")
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and ax.get_title() == "toy"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_xticklabels()] == LABELS
    assert len(ax.texts) == len(LABELS) ** 2
    counts = confusion_matrix_figure(report["confusion_matrix"], LABELS, normalize=False)
    assert counts.axes[0].texts[0].get_text() == str(report["confusion_matrix"][0][0])
    fig.savefig(tmp_path / "cm.png")
    assert is_png(tmp_path / "cm.png")


def test_confusion_matrix_plotly_is_a_row_normalised_heatmap(report):
    fig = confusion_matrix_plotly(report["confusion_matrix"], LABELS)
    heatmap = fig.data[0]
    assert heatmap.type == "heatmap" and list(heatmap.x) == LABELS
    assert np.asarray(heatmap.z).sum(axis=1)[:3] == pytest.approx([1, 1, 1])
    assert fig.layout.xaxis.title.text == "predicted"


def test_confusion_matrix_shape_must_fit_the_labels():
    with pytest.raises(ValueError, match="does not fit 4 labels"):
        confusion_matrix_figure(np.zeros((3, 3)), LABELS)


def test_attention_heatmap_shares_the_time_axis_and_draws_word_boundaries(tmp_path):
    sr, frames = 16000, 75
    wave = np.sin(np.linspace(0, 300, int(1.5 * sr)))
    weights = np.random.default_rng(0).dirichlet(np.ones(frames), size=len(WORDS))
    fig = attention_heatmap(weights, WORDS, wave, sr, WORD_TIMES, frame_rate=50)
    wave_ax, attention_ax = fig.axes[:2]
    assert [t.get_text() for t in attention_ax.get_yticklabels()] == WORDS
    assert attention_ax.get_xlabel() == "time (s)" and wave_ax.get_shared_x_axes().joined(wave_ax, attention_ax)
    assert attention_ax.get_xlim() == pytest.approx((0, 1.5))
    assert len(wave_ax.lines) == 1 + 2 * len(WORDS) and len(attention_ax.lines) == 2 * len(WORDS)
    assert len(attention_ax.patches) == len(WORDS)  # each word's own span outlined
    fig.savefig(tmp_path / "attention.png")
    assert is_png(tmp_path / "attention.png")


def test_attention_heatmap_without_word_times_spreads_frames_over_the_clip():
    fig = attention_heatmap(np.ones((2, 10)) / 10, ["a", "b"], np.zeros(8000), 16000)
    assert fig.axes[1].images[0].get_extent()[:2] == pytest.approx([0, 0.5])
    with pytest.raises(ValueError, match="n_words=3"):
        attention_heatmap(np.ones((2, 10)), WORDS, np.zeros(8000), 16000)


def test_wave_outline_keeps_every_peak_of_a_long_clip_in_a_few_thousand_points():
    sr = 16000
    wave = np.random.default_rng(0).normal(0, 0.1, 30 * sr)  # 30 s: what the app analyses at most
    wave[123_457], wave[400_001] = 0.9, -0.8  # two clicks a figure must still show
    times, values = wave_outline(wave, sr, columns=1000)
    assert len(times) == len(values) == 2000
    assert values.max() == 0.9 and values.min() == -0.8
    assert np.all(np.diff(times) >= 0) and times[0] >= 0 and times[-1] <= 30
    short = np.arange(100.0)
    assert np.array_equal(wave_outline(short, sr)[1], short)  # a short wave is drawn as it is


def test_attention_heatmap_of_a_long_transcript_stays_a_readable_size():
    words = [f"w{i}" for i in range(3 * LABELLED_ROWS)]  # a 30 s clip of fast speech
    fig = attention_heatmap(np.ones((len(words), 50)) / 50, words, np.zeros(16000), 16000)
    assert (
        fig.get_figheight()
        == attention_heatmap(
            np.ones((LABELLED_ROWS, 50)), words[:LABELLED_ROWS], np.zeros(16000), 16000
        ).get_figheight()
    )
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert labels == words[::3] and len(fig.axes[1].images[0].get_array()) == len(words)  # every row drawn


def test_attention_grid_draws_one_map_per_clip_and_model(tmp_path):
    sr = 16000
    panel = {"weights": np.full((3, 50), 1 / 50), "words": WORDS, "wave": np.zeros(sr), "word_times": WORD_TIMES}
    fig = attention_grid(
        [[panel, panel, panel], [panel, panel, panel]], sr, ["global", "local", "forced"], ["clip A", "clip B"]
    )
    assert len(fig.axes) == 12
    assert [row.get_suptitle() for row in fig.subfigs] == ["clip A", "clip B"]  # each clip named once
    assert [ax.get_title() for ax in fig.subfigs[1].axes] == ["global", "", "local", "", "forced", ""]
    assert [t.get_text() for t in fig.axes[3].get_yticklabels()] == WORDS
    fig.savefig(tmp_path / "grid.png")
    assert is_png(tmp_path / "grid.png")


def test_training_curves_plot_losses_metrics_and_the_kept_epoch(tmp_path):
    history = History(monitor="UF1", best_epoch=2, best_score=0.6)
    for epoch, (loss, uf1) in enumerate([(1.0, 0.4), (0.7, 0.6), (0.5, 0.55)], start=1):
        history.epochs.append(EpochRecord(epoch, loss, loss + 0.1, {"WA": uf1, "UA": uf1, "UF1": uf1}, 1e-3, 1.0))
    fig = training_curves(history.to_dict())
    loss_ax, metric_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and metric_ax.get_ylabel() == "validation score"
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation", "kept (epoch 2)"]
    assert [line.get_label() for line in metric_ax.lines][:3] == ["WA", "UA", "UF1"]
    assert list(metric_ax.lines[2].get_ydata()) == [0.4, 0.6, 0.55]
    fig.savefig(tmp_path / "curves.png")
    assert is_png(tmp_path / "curves.png")


def test_coattention_steps_draws_three_rows_per_clip_and_checks_lengths():
    from emodemo.reports.viz import coattention_steps

    panel = {
        "wave": np.sin(np.arange(16000) / 20),
        "tokens": ["[CLS]", "kids", "[SEP]"],
        "text_1": [0.2, 0.7, 0.1],
        "text_3": [0.1, 0.8, 0.1],
        "speech": np.full(50, 0.02),
        "title": "angry",
        "word_times": [("kids", 0.1, 0.4)],
    }
    fig = coattention_steps([panel, dict(panel, title="sad")], sr=16000)
    assert len(fig.axes) == 2 * 3 + 2  # 3 rows per clip + a weight axis over each sound
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == panel["tokens"]
    with pytest.raises(ValueError, match="one weight per token"):
        coattention_steps([dict(panel, text_1=[0.5, 0.5])], sr=16000)


def test_joined_attention_map_labels_both_modalities_and_reports_the_cross_shares():
    from emodemo.reports.viz import joined_attention_map

    n_speech, tokens = 50, ["[CLS]", "kids", "[SEP]"]
    weights = np.full((53, 53), 1 / 53)
    fig = joined_attention_map(weights, n_speech, tokens, frame_rate=25.0, title="angry")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[:4] == ["0.0 s", "0.5 s", "1.0 s", "1.5 s"] and labels[-3:] == tokens
    assert "speech->text 6 %" in fig.axes[0].get_title() and "text->speech 94 %" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"\[53, 53\]"):
        joined_attention_map(weights[:-1], n_speech, tokens, frame_rate=25.0)


def test_kept_positions_tiles_each_chunks_attention_over_its_spectrogram(tmp_path):
    chunks = np.random.default_rng(0).normal(size=(3, 64, 40))  # [S, F, T]
    kept = np.zeros((3, 16, 10))
    kept[0, 2, 3], kept[2, 15, 9] = 0.6, 0.4
    dense = np.full((3, 16, 10), 1 / 160)
    fig = kept_positions(chunks, {"p = 0.3": kept, "p = 1": dense}, title="clip")
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title(loc="left") for ax in axes] == [
        "p = 0.3: 0.4 % of positions kept",
        "p = 1: 100.0 % of positions kept",
    ]
    overlay = axes[0].get_images()[1].get_array()  # [64, 120], masked where dropped
    assert overlay.count() == 2 * 4 * 4 and overlay.max() == pytest.approx(0.6)
    assert overlay[8:12, 12:16].min() == pytest.approx(0.6)  # chunk 0, band block 2, frames 12-15
    fig.savefig(tmp_path / "kept.png")
    with pytest.raises(ValueError, match="does not tile"):
        kept_positions(chunks, {"bad": np.zeros((3, 7, 10))})


def test_face_timeline_shows_evenly_spaced_faces_and_each_emotion_over_time(tmp_path):
    from emodemo.reports.viz import face_timeline

    times = np.arange(12) * 0.2
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=12)  # [M, C]
    crops = np.random.default_rng(1).integers(0, 256, (12, 48, 48), dtype=np.uint8)
    fig = face_timeline(times, probs, ["neutral", "happy", "sad"], crops, max_faces=4, title="faces")
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in image_axes] == ["0.0 s", "0.8 s", "1.4 s", "2.2 s"]
    lines = fig.axes[-1].get_lines()
    assert len(lines) == 3 and np.allclose(lines[1].get_ydata(), probs[:, 1])
    fig.savefig(tmp_path / "faces.png")
    with pytest.raises(ValueError, match="must be"):
        face_timeline(times, probs[:, :2], ["neutral", "happy", "sad"])


def test_accuracy_latency_numbers_each_model_on_a_log_time_axis(tmp_path):
    from emodemo.reports.viz import accuracy_latency

    points = [{"name": "a", "ms": 2.0, "WA": 60.0, "std": 1.0}, {"name": "b", "ms": 25.0, "WA": 76.0, "std": None}]
    fig = accuracy_latency(points, ("hub", 1600.0))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["1", "2"]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["-  hub", "1  a", "2  b"]
    fig.savefig(tmp_path / "a.png")
    assert is_png(tmp_path / "a.png")


def test_per_class_f1_draws_one_bar_per_model_and_class(report):
    from emodemo.reports.viz import per_class_f1

    rows = [
        {"model": "m1", "per_class_f1": {"neutral": 0.5, "happy": 0.25}},
        {"model": "m2", "per_class_f1": {"neutral": 0.75}},
    ]
    ax = per_class_f1(rows, ["neutral", "happy"]).axes[0]
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights[:2] == [50.0, 25.0] and heights[2] == 75.0 and np.isnan(heights[3])  # a class a row lacks: no bar


def test_confusion_grid_gives_one_panel_per_matrix_with_its_mean_recall(report):
    from emodemo.reports.viz import confusion_grid

    panels = [("one", report["confusion_matrix"], LABELS)] * 3
    fig = confusion_grid(panels, columns=2)
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == 3 and len(fig.axes) == 4
    recall = np.mean(np.diag(row_normalised(report["confusion_matrix"])))
    assert shown[0].get_title().endswith(f"mean recall {recall:.0%}")
    with pytest.raises(ValueError, match="does not fit"):
        confusion_grid([("bad", report["confusion_matrix"], LABELS[:2])])


def test_reliability_diagrams_show_ece_before_and_after():
    from emodemo.reports.viz import reliability_diagrams
    from emodemo.training import calibration

    rng = np.random.default_rng(0)
    targets = rng.integers(3, size=300)
    sharp = np.eye(3)[targets] * 0.5 + 0.5 * np.eye(3)[rng.integers(3, size=300)]  # half right, always sure
    soft = np.full((300, 3), 1 / 3)
    fig = reliability_diagrams(
        [("toy", calibration.reliability(sharp, targets), calibration.reliability(soft, targets))]
    )
    title = fig.axes[0].get_title()
    assert f"ECE {calibration.expected_calibration_error(sharp, targets):.3f}" in title
    assert title.endswith(f"→ {calibration.expected_calibration_error(soft, targets):.3f}")
