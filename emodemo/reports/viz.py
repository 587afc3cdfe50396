"""Figures for notebooks, the app and model cards: confusion matrices, attention over words and
sound, what MESM's nucleus sampling kept, training curves.

Every function returns a figure and shows nothing: matplotlib figures are built with
``matplotlib.figure.Figure`` (no pyplot, no global state, no display needed; Jupyter and Gradio
render them, ``fig.savefig("x.png")`` writes them), plotly ones are ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from emodemo.training.history import History


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """Each row (true class) divided by its total: the diagonal becomes per-class recall.
    Rows of classes absent from the data stay 0."""
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def _checked_matrix(cm: Any, labels: Sequence[str]) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not fit {len(labels)} labels")
    return cm


def _cell_texts(cm: np.ndarray, normalize: bool) -> list[list[str]]:
    shares = row_normalised(cm)
    if normalize:
        return [[f"{s:.0%}\n({int(c)})" for s, c in zip(srow, crow)] for srow, crow in zip(shares, cm)]
    return [[str(int(c)) for c in row] for row in cm]


def confusion_matrix_figure(cm: Any, labels: Sequence[str], normalize: bool = True, title: str | None = None) -> Figure:
    """A confusion matrix as a heat map: rows are true classes, columns predictions.

    With ``normalize`` the colours and the numbers are shares of each true class (the diagonal is
    per-class recall), with the counts in brackets; otherwise raw counts.
    """
    cm = _checked_matrix(cm, labels)
    values = row_normalised(cm) if normalize else cm
    size = 2.0 + 0.75 * len(labels)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(1, values.max()))
    fig.colorbar(image, ax=ax, label="share of the true class" if normalize else "count")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = 0.6 * (values.max() or 1)
    for (i, j), text in np.ndenumerate(np.array(_cell_texts(cm, normalize), dtype=object)):
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8, color="white" if values[i, j] > threshold else "black"
        )
    ax.set_title(title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix"))
    return fig


def confusion_matrix_plotly(cm: Any, labels: Sequence[str], normalize: bool = True, title: str | None = None):
    """The interactive (plotly) twin of :func:`confusion_matrix_figure`, for the app."""
    import plotly.graph_objects as go

    cm = _checked_matrix(cm, labels)
    values = row_normalised(cm) if normalize else cm
    texts = [[t.replace("\n", "<br>") for t in row] for row in _cell_texts(cm, normalize)]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=list(labels),
            y=list(labels),
            text=texts,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            customdata=cm,
            hovertemplate="true %{y}, predicted %{x}: %{customdata} clips<extra></extra>",
        )
    )
    fig.update_layout(
        title=title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix"),
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
    )
    return fig


def modality_bars(
    alone: Mapping[str, Mapping[str, float]],
    fused: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
):
    """What each modality says alone and the fused answer, as grouped bars per emotion (plotly).
    ``alone[modality][emotion]`` and ``fused[emotion]`` are probabilities; ``names`` relabels the
    modalities (e.g. "audio" -> "voice (speech_probe)")."""
    import plotly.graph_objects as go

    names = names or {}
    fig = go.Figure()
    for modality, probs in alone.items():
        fig.add_bar(name=names.get(modality, modality), x=list(probs), y=list(probs.values()))
    if fused is not None:
        fig.add_bar(name="fused", x=list(fused), y=list(fused.values()), marker_color="black")
    fig.update_layout(
        barmode="group",
        yaxis_title="probability",
        yaxis_range=[0, 1],
        title=title or "each modality alone, and fused",
        legend_orientation="h",
    )
    return fig


EMOTION_COLOURS = {
    "neutral": "#9e9e9e",
    "happy": "#f2b705",
    "sad": "#1f6fb2",
    "angry": "#d62728",
    "fearful": "#8c4fb5",
    "disgust": "#2ca02c",
    "surprised": "#ff7f0e",
}  # one per canonical emotion


def timeline_plotly(
    records: Sequence[Mapping[str, Any]],
    times: Any,
    track: Any,
    labels: Sequence[str],
    title: str = "emotion over time",
):
    """A recording's emotions over time (plotly): the smoothed probability of each emotion
    (``times [T]``, ``track [T, len(labels)]``) as lines, and every segment as a band coloured by
    its fused answer, paler when unsure, with its words and confidence on hover."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for k, label in enumerate(labels):
        fig.add_scatter(
            x=times,
            y=track[:, k],
            name=label,
            mode="lines",
            line_color=EMOTION_COLOURS.get(label),
            hovertemplate=f"{label} %{{y:.0%}} at %{{x:.1f}} s<extra></extra>",
        )
    for r in records:
        fig.add_vrect(
            x0=r["start"],
            x1=r["end"],
            fillcolor=EMOTION_COLOURS.get(r["emotion"], "#cccccc"),
            opacity=0.12 if r["unsure"] else 0.3,
            line_width=0,
            layer="below",
        )
    # invisible points on the bands carry the hover text: a segment's words and answer
    fig.add_scatter(
        x=[(r["start"] + r["end"]) / 2 for r in records],
        y=[1.02] * len(records),
        mode="markers",
        marker={
            "size": 9,
            "color": [EMOTION_COLOURS.get(r["emotion"], "#cccccc") for r in records],
            "symbol": "square",
        },
        name="segments",
        showlegend=False,
        customdata=[
            [
                r["start"],
                r["end"],
                r["emotion"],
                r["confidence"],
                " (unsure)" if r["unsure"] else "",
                (r.get("words") or "")[:120],
            ]
            for r in records
        ],
        hovertemplate="%{customdata[0]:.1f}-%{customdata[1]:.1f} s: %{customdata[2]} "
        "%{customdata[3]:.0%}%{customdata[4]}<br>%{customdata[5]}<extra></extra>",
    )
    fig.update_layout(
        title=title,
        xaxis_title="seconds",
        yaxis_title="probability (smoothed)",
        yaxis_range=[0, 1.06],
        legend_orientation="h",
        hovermode="closest",
        margin={"t": 40, "b": 40},
    )
    return fig


LABELLED_ROWS = 30  # an attention map names at most this many rows (a 30 s clip can hold 80 words)


def attention_heatmap(
    weights: Any,
    words: Sequence[str],
    wave: Any,
    sr: int,
    word_times: Sequence[tuple[float, float]] | None = None,
    frame_rate: float | None = None,
    title: str | None = None,
) -> Figure:
    """Where each word looks in the sound: the waveform on top, ``weights [n_words, T]`` below.

    Both panels share one time axis in seconds. ``frame_rate`` is the number of attention frames
    per second (default: the ``T`` frames span the whole clip). With ``word_times`` (start, end in
    seconds, e.g. from Whisper's word timestamps) each word's boundaries are drawn on both panels
    and its own span is outlined on its row, so you can see whether a word attends to itself.
    """
    rows = min(len(words), LABELLED_ROWS)  # a long transcript gets a taller figure only up to a point
    fig = Figure(figsize=(10, 2.0 + 0.3 * rows), layout="constrained")
    wave_ax, attention_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, max(1.5, 0.3 * rows)])
    image = draw_attention(wave_ax, attention_ax, weights, words, wave, sr, word_times, frame_rate)
    wave_ax.set_title(title or "attention of each word over the sound", pad=14)  # room for the words
    fig.colorbar(image, ax=[wave_ax, attention_ax], label="attention weight", shrink=0.8)
    return fig


def message_figure(title: str, message: str) -> Figure:
    """A small figure that says, in words, why a model has nothing to draw (e.g. it read no words)."""
    import textwrap

    fig = Figure(figsize=(10, 1.2), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title, loc="left")
    ax.text(0.0, 0.5, textwrap.fill(message, 120), va="center", ha="left", fontsize=9, transform=ax.transAxes)
    return fig


def attention_grid(
    panels: Sequence[Sequence[Mapping[str, Any]]],
    sr: int,
    column_titles: Sequence[str] = (),
    row_titles: Sequence[str] = (),
) -> Figure:
    """Several attention maps side by side: ``panels[row][column]`` holds the keyword arguments of
    :func:`draw_attention` (``weights``, ``words``, ``wave``; optionally ``word_times``,
    ``frame_rate``), e.g. one clip per row and one model per column."""
    n_rows, n_cols = len(panels), max(len(row) for row in panels)
    heights = [1.6 + 0.22 * max(len(p["words"]) for p in row) for row in panels]
    fig = Figure(figsize=(5.2 * n_cols, sum(heights) + 0.3 * bool(row_titles)), layout="constrained")
    rows = fig.subfigures(n_rows, 1, height_ratios=heights, squeeze=False)[:, 0]  # one per row: its title once
    for r, (row, row_fig) in enumerate(zip(panels, rows)):
        if r < len(row_titles) and row_titles[r]:
            row_fig.suptitle(row_titles[r], fontsize=11)
        grid = row_fig.add_gridspec(2, n_cols, height_ratios=[1, max(1.5, 0.22 * max(len(p["words"]) for p in row))])
        for c, panel in enumerate(row):
            wave_ax = row_fig.add_subplot(grid[0, c])
            attention_ax = row_fig.add_subplot(grid[1, c], sharex=wave_ax)
            draw_attention(wave_ax, attention_ax, sr=sr, **panel)
            if c < len(column_titles):
                wave_ax.set_title(column_titles[c], fontsize=10, pad=14)  # room for the words above the wave
            if c:
                for ax in (wave_ax, attention_ax):
                    ax.set_ylabel("")
    return fig


def wave_outline(wave: np.ndarray, sr: int, columns: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """``(times, values)`` that draw ``wave [N]`` as a line looks at a figure's resolution: each of
    ``columns`` equal spans of samples gives its lowest then its highest sample (a vertical stroke at
    the span's middle). A 30 s clip drawn sample by sample (480,000 points) cost a quarter of a GB and
    most of a second to lay out."""
    if len(wave) <= 2 * columns:
        return np.arange(len(wave)) / sr, wave
    starts = np.linspace(0, len(wave), columns + 1).astype(int)  # [columns + 1] span edges
    low, high = np.minimum.reduceat(wave, starts[:-1]), np.maximum.reduceat(wave, starts[:-1])  # [columns]
    times = np.repeat((starts[:-1] + starts[1:]) / 2 / sr, 2)  # [2 * columns]
    return times, np.stack([low, high], 1).reshape(-1)


def draw_attention(
    wave_ax,
    attention_ax,
    weights: Any,
    words: Sequence[str],
    wave: Any,
    sr: int,
    word_times: Sequence[tuple[float, float]] | None = None,
    frame_rate: float | None = None,
):
    """Draw a waveform on ``wave_ax`` and ``weights [n_words, T]`` under it on ``attention_ax``,
    on one time axis, with the words' boundaries when ``word_times`` are given; returns the image."""
    weights = np.asarray(weights, dtype=float)
    wave = np.asarray(wave, dtype=float).reshape(-1)
    if weights.ndim != 2 or weights.shape[0] != len(words):
        raise ValueError(f"weights must be [n_words={len(words)}, frames], got shape {weights.shape}")
    if word_times is not None and len(word_times) != len(words):
        raise ValueError(f"{len(word_times)} word times for {len(words)} words")
    duration = len(wave) / sr
    frame_rate = frame_rate or weights.shape[1] / duration
    n_words = len(words)
    wave_ax.plot(*wave_outline(wave, sr), color="0.3", linewidth=0.5)
    wave_ax.set_ylabel("amplitude")
    wave_ax.tick_params(labelbottom=False)
    image = attention_ax.imshow(
        weights,
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        extent=(0, weights.shape[1] / frame_rate, n_words - 0.5, -0.5),
    )
    step = -(-n_words // LABELLED_ROWS)  # every word named, or every step-th when there are many
    attention_ax.set_yticks(range(0, n_words, step), list(words)[::step])
    attention_ax.set_xlabel("time (s)")
    attention_ax.set_ylabel("word")
    attention_ax.set_xlim(0, max(duration, weights.shape[1] / frame_rate))
    for row, (start, end) in enumerate(word_times or []):
        for ax in (wave_ax, attention_ax):
            for edge in (start, end):
                ax.axvline(edge, color="tab:cyan", linewidth=0.8, linestyle="--")
        wave_ax.text(
            (start + end) / 2,
            1.0,
            words[row],
            transform=wave_ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )
        attention_ax.add_patch(
            Rectangle((start, row - 0.5), end - start, 1.0, fill=False, edgecolor="tab:cyan", linewidth=1.2)
        )
    return image


def coattention_steps(panels: Sequence[Mapping[str, Any]], sr: int, frame_rate: float = 50.0) -> Figure:
    """Talk 001's three co-attention steps for several clips, one column per clip.

    Each panel: ``wave`` (the audio the model heard), ``tokens`` (word pieces), ``text_1`` and
    ``text_3`` (step 1's and step 3's weights over the tokens), ``speech`` (step 2's weights over
    the audio states, ``frame_rate`` per second), ``title``, and optionally ``word_times``
    ``[(word, start_s, end_s), ...]`` drawn as boundaries over the sound. Rows: step 1 (text,
    unguided), step 2 (speech, guided by step 1's text summary) over the waveform, step 3 (text
    again, guided by step 2's speech summary).
    """
    if not panels:
        raise ValueError("no clips to draw")
    fig = Figure(figsize=(4.2 * len(panels), 7.5), layout="constrained")
    axes = np.asarray(fig.subplots(3, len(panels), squeeze=False, gridspec_kw={"height_ratios": [1, 1.3, 1]}))
    for column, panel in enumerate(panels):
        tokens = list(panel["tokens"])
        for row, key, step in ((0, "text_1", "step 1: text, unguided"), (2, "text_3", "step 3: text | speech")):
            weights = np.asarray(panel[key], dtype=float)[: len(tokens)]
            if weights.shape != (len(tokens),):
                raise ValueError(f"{key} must hold one weight per token ({len(tokens)}), got {weights.shape}")
            ax = axes[row, column]
            ax.bar(range(len(tokens)), weights, color="tab:purple" if row == 0 else "tab:green")
            ax.set_xticks(range(len(tokens)), tokens, rotation=60, fontsize=7)
            ax.set_ylim(0, 1)
            ax.set_ylabel(step if column == 0 else "", fontsize=8)
        wave = np.asarray(panel["wave"], dtype=float).reshape(-1)
        speech = np.asarray(panel["speech"], dtype=float).reshape(-1)
        ax = axes[1, column]
        ax.plot(*wave_outline(wave / max(np.abs(wave).max(), 1e-9), sr), color="0.6", linewidth=0.4)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        weight_ax = ax.twinx()
        weight_ax.fill_between(np.arange(len(speech)) / frame_rate, speech, step="post", color="tab:orange", alpha=0.7)
        weight_ax.set_ylim(0, max(float(speech.max()) * 1.1, 1e-6))
        weight_ax.set_ylabel("step 2: speech | text" if column == len(panels) - 1 else "", fontsize=8)
        for word, start, end in panel.get("word_times") or []:
            ax.axvline(start, color="tab:cyan", linewidth=0.6, linestyle="--")
            ax.text(
                (start + end) / 2,
                1.0,
                word.strip(),
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xlim(0, max(len(wave) / sr, len(speech) / frame_rate))
        ax.set_xlabel("time (s)")
        axes[0, column].set_title(panel.get("title", ""), fontsize=9)
    return fig


def joined_attention_map(
    weights: Any, n_speech: int, tokens: Sequence[str], frame_rate: float, title: str | None = None
) -> Figure:
    """Self-attention over a joined [speech; text] sequence (talk 002's Self-MHA).

    ``weights [n_speech + n_tokens, n_speech + n_tokens]``: row = query, column = key, each row a
    distribution. Speech positions are labelled in seconds (``frame_rate`` per second: 25 for
    ``SslMhaNet``, Whisper's 50 frames per second averaged in pairs), word pieces
    by ``tokens``; lines split the four blocks (speech->speech, speech->text, text->speech,
    text->text), and each block's title gives the mean share of a query's attention it receives.
    """
    weights = np.asarray(weights, dtype=float)
    size = n_speech + len(tokens)
    if weights.shape != (size, size):
        raise ValueError(
            f"weights must be [{size}, {size}] for {n_speech} frames and {len(tokens)} tokens, got {weights.shape}"
        )
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.sqrt(weights), cmap="magma", interpolation="nearest")  # sqrt: small weights visible
    for edge in (n_speech - 0.5,):
        ax.axhline(edge, color="tab:cyan", linewidth=1.0)
        ax.axvline(edge, color="tab:cyan", linewidth=1.0)
    seconds = np.arange(0, n_speech / frame_rate, 0.5)
    ticks = list(seconds * frame_rate) + list(range(n_speech, size))
    labels = [f"{t:.1f} s" for t in seconds] + list(tokens)
    ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("key (speech frames | word pieces)")
    ax.set_ylabel("query")
    blocks = {
        "speech->text": weights[:n_speech, n_speech:].sum(1).mean(),
        "text->speech": weights[n_speech:, :n_speech].sum(1).mean(),
    }
    ax.set_title(
        (title + "\n" if title else "") + ", ".join(f"{k} {100 * v:.0f} %" for k, v in blocks.items()), fontsize=9
    )
    fig.colorbar(image, ax=ax, label="sqrt(attention weight)", shrink=0.8)
    return fig


def kept_positions(
    chunks: Any,
    kept: Mapping[str, Any],
    chunk_seconds: float = 0.4,
    title: str | None = None,
    rows: str = "mel band",
) -> Figure:
    """What MESM's nucleus sampling kept (talk 004), one panel per setting, stacked.

    ``chunks [S, F, T]`` are the clip's log-mel chunks (what the recipe feeds the CNN; ``rows`` names their
    rows), or the projected speech states a model of frozen states reads in their place; ``kept``
    maps a panel title (e.g. ``"p = 0.5"``) to the kept attention ``[S, H, W]`` of each chunk's
    feature map (0 where dropped; H and W divide F and T). Each panel shows the spectrogram in
    grey with the kept positions coloured by their attention, chunk boundaries dashed, and the
    share of positions kept in its title.
    """
    chunks = np.asarray(chunks, dtype=np.float32)
    n, f, t = chunks.shape
    spectrogram = chunks.transpose(1, 0, 2).reshape(f, n * t)  # [F, S T]
    fig = Figure(figsize=(max(6.0, 1.1 * n + 2), 1.6 * len(kept) + 0.6), layout="constrained")
    axes = fig.subplots(len(kept), 1, sharex=True, squeeze=False)[:, 0]
    extent = (0, n * chunk_seconds, 0, f)
    image = None
    for ax, (name, attention) in zip(axes, kept.items()):
        attention = np.asarray(attention, dtype=np.float32)  # [S, H, W]
        if attention.shape[0] != n or f % attention.shape[1] or t % attention.shape[2]:
            raise ValueError(f"kept attention {attention.shape} does not tile {n} chunks of {f} x {t}")
        up = attention.repeat(f // attention.shape[1], axis=1).repeat(t // attention.shape[2], axis=2)
        overlay = np.ma.masked_equal(up.transpose(1, 0, 2).reshape(f, n * t), 0)  # [F, S T]
        ax.imshow(spectrogram, origin="lower", aspect="auto", cmap="Greys", extent=extent)
        image = ax.imshow(overlay, origin="lower", aspect="auto", cmap="plasma", alpha=0.75, extent=extent)
        for boundary in range(1, n):
            ax.axvline(boundary * chunk_seconds, color="white", lw=0.6, ls="--")
        share = float((attention > 0).mean())
        ax.set_title(f"{name}: {100 * share:.1f} % of positions kept", fontsize=9, loc="left")
        ax.set_ylabel(rows)
    axes[-1].set_xlabel("seconds (400 ms chunks)")
    if title:
        fig.suptitle(title, fontsize=11)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="kept attention", shrink=0.8)
    return fig


def face_timeline(
    timestamps: Any,
    per_face: Any,
    labels: Sequence[str],
    crops: Any = None,
    max_faces: int = 8,
    title: str | None = None,
) -> Figure:
    """A video's face track: up to ``max_faces`` of the face crops (evenly spaced) on top, and each
    emotion's probability per face over time below. ``timestamps [M]`` seconds, ``per_face [M, C]``
    probabilities, ``crops [M, h, w]`` grey or ``[M, h, w, 3]``."""
    timestamps, per_face = np.asarray(timestamps, dtype=float), np.asarray(per_face, dtype=float)
    if per_face.ndim != 2 or len(per_face) != len(timestamps) or per_face.shape[1] != len(labels):
        raise ValueError(f"per_face {per_face.shape} must be [{len(timestamps)} faces, {len(labels)} labels]")
    shown = (
        np.unique(np.linspace(0, len(timestamps) - 1, min(max_faces, len(timestamps))).round().astype(int))
        if crops is not None and len(timestamps)
        else np.array([], dtype=int)
    )
    fig = Figure(figsize=(9, 4.2 if len(shown) else 3.0), layout="constrained")
    grid = fig.add_gridspec(2 if len(shown) else 1, max(len(shown), 1), height_ratios=[1, 2] if len(shown) else [1])
    for column, index in enumerate(shown):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(np.asarray(crops)[index], cmap="gray")
        ax.set_title(f"{timestamps[index]:.1f} s", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[-1, :])
    for c, label in enumerate(labels):
        ax.plot(timestamps, per_face[:, c], marker="o", markersize=3, label=label)
    ax.set_xlabel("seconds")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=min(len(labels), 7), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def training_curves(history: History | Mapping[str, Any]) -> Figure:
    """Loss (train and validation) and validation metrics per epoch, the kept epoch marked."""
    if not isinstance(history, History):
        history = History.from_dict(history)
    epochs = [record.epoch for record in history.epochs]
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    loss_ax, metric_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, history.series("train_loss"), marker=".", label="train")
    if any(v is not None for v in history.series("val_loss")):
        loss_ax.plot(epochs, history.series("val_loss"), marker=".", label="validation")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")
    first_report = history.epochs[0].val_metrics if history.epochs else None
    names = [k for k in ("WA", "UA", "UF1", "mean_f1", "mean_wacc") if first_report and k in first_report]
    for name in names:
        metric_ax.plot(epochs, history.series(name), marker=".", label=name)
    metric_ax.set_xlabel("epoch")
    metric_ax.set_ylabel("validation score")
    metric_ax.set_title("validation metrics" if names else "no validation data")
    for ax in (loss_ax, metric_ax):
        if history.best_epoch is not None:
            ax.axvline(history.best_epoch, color="0.5", linestyle=":", label=f"kept (epoch {history.best_epoch})")
        ax.legend(fontsize=8)
    return fig


def accuracy_latency(
    points: Sequence[Mapping[str, Any]],
    baseline: tuple[str, float] | None = None,
    title: str = "accuracy against latency",
) -> Figure:
    """One dot per model: ``ms`` per clip (log x) against ``WA`` in percent, ``std`` as an error bar;
    each dot is numbered and the legend names it (``name``), so close dots stay readable;
    ``baseline`` = (label, ms) draws a vertical line for a reference model."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax = fig.add_subplot()
    for number, point in enumerate(points, start=1):
        ax.errorbar(
            point["ms"], point["WA"], yerr=point.get("std") or 0, fmt="o", capsize=3, label=f"{number}  {point['name']}"
        )
        ax.annotate(str(number), (point["ms"], point["WA"]), fontsize=8, xytext=(4, 2), textcoords="offset points")
    if baseline is not None:
        ax.axvline(baseline[1], color="0.5", linestyle="--", label=f"-  {baseline[0]}")
    ax.set_xscale("log")
    ax.set_xlabel("ms per 4 s clip, end to end (log scale)")
    ax.set_ylabel("WA % (± std over folds)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def word_weights(weights: Any, tokens: Sequence[str], title: str = "") -> Figure:
    """Bars: how much each word piece weighs in a pooled sentence (``weights [N]``, summing to 1)."""
    weights = np.asarray(weights, dtype=float)[: len(tokens)]
    fig = Figure(figsize=(max(4.0, 0.45 * len(tokens) + 1), 2.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.arange(len(tokens)), weights, color="tab:purple")
    ax.set_xticks(np.arange(len(tokens)), tokens, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("weight")
    ax.set_title(title, fontsize=10)
    return fig


def per_class_f1(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], title: str = "") -> Figure:
    """Grouped bars: per class (x), one bar per row (its ``per_class_f1`` in percent, named ``model``)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(labels))
    for k, row in enumerate(rows):
        ax.bar(
            x + (k - (len(rows) - 1) / 2) * width,
            [100 * row["per_class_f1"].get(c, np.nan) for c in labels],
            width,
            label=row["model"],
        )
    ax.set_xticks(x, labels)
    ax.set_ylabel("F1 %")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    ax.set_title(title, fontsize=10)
    return fig


def confusion_grid(panels: Sequence[tuple[str, Any, Sequence[str]]], columns: int = 6) -> Figure:
    """Many row-normalised confusion matrices side by side, one ``(title, matrix, labels)`` each
    (rows true, columns predicted; the classes' first two letters on the axes, the diagonal's mean,
    i.e. UA, in the title)."""
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(2.3 * columns, 2.5 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, (title, cm, labels) in zip(axes, panels):
        shares = row_normalised(_checked_matrix(cm, labels))
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        initials = [label[:2] for label in labels]
        ax.set_xticks(range(len(labels)), initials, fontsize=6)
        ax.set_yticks(range(len(labels)), initials, fontsize=6)
        ax.set_title(f"{title}\nmean recall {np.mean(np.diag(shares)):.0%}", fontsize=6.5)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    return fig


def reliability_diagrams(panels: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]]) -> Figure:
    """One reliability diagram per ``(title, before, after)``: each a dict of
    :func:`emodemo.training.calibration.reliability` bins (``edges``, ``accuracy``, ``confidence``,
    ``count``; empty bins' accuracy NaN or negative). Bars: accuracy per confidence bin before
    (grey) and after (blue) temperature scaling; the diagonal is perfect calibration; the title
    gives each one's ECE (computed from the bins)."""
    fig = Figure(figsize=(3.2 * len(panels), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, before, after) in zip(axes, panels):
        eces = []
        for bins, colour, name in ((before, "0.6", "raw"), (after, "tab:blue", "calibrated")):
            edges = np.asarray(bins["edges"], dtype=float)
            accuracy = np.asarray(bins["accuracy"], dtype=float)
            count = np.asarray(bins["count"], dtype=float)
            confidence = np.asarray(bins["confidence"], dtype=float)
            used = count > 0
            eces.append(float(np.sum(count[used] / count.sum() * np.abs(accuracy[used] - confidence[used]))))
            ax.bar(
                edges[:-1][used],
                accuracy[used],
                width=np.diff(edges)[used],
                align="edge",
                alpha=0.55,
                color=colour,
                edgecolor="white",
                label=name,
            )
        ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top label)", ylabel="accuracy")
        ax.set_title(f"{title}\nECE {eces[0]:.3f} → {eces[1]:.3f}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return fig
