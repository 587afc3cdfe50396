"""emodemo's Gradio app: give a clip, read its transcript and what each trained model hears.

Run ``make app`` (or ``python app.py``) and open http://127.0.0.1:7860. All the work happens in
:mod:`emodemo.serving.pipeline`; this file only lays out the page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.components.plot import PlotData

from emodemo.reports import (
    confusion_matrix_plotly,
    headline_markdown,
    headline_report,
    headline_table,
    modality_bars,
    side_by_side,
    timeline_plotly,
)
from emodemo.serving import (
    CANONICAL7,
    EVERY_SECONDS,
    MODALITY_NAMES,
    AudioError,
    ClipError,
    LiveState,
    Pipeline,
    UploadError,
    analyse_recording,
    cross_corpus,
    evaluate_upload,
    listen,
    probe_duration,
    read_span,
    recording_limit,
    smoothed_track,
    words_left_out,
    write_csv,
)

TITLE = "emodemo: what emotion does this clip carry?"
INTRO = """Upload or record a short English clip (a few seconds of speech), as sound or as video with a
face in view. The app transcribes it with Whisper, asks every trained voice and words model which
emotion it hears and, for a video, the face models what they see. Models are trained on acted
data (RAVDESS speech, FER-2013 faces); expect them to be unsure on everyday speech."""
DEFAULT_WEIGHT = 1.0  # every modality's weight in the fusion until the user moves a slider
MAX_UPLOAD_MB = int(os.environ.get("EMODEMO_MAX_UPLOAD_MB", "200"))  # larger uploads are refused by Gradio
CACHE_HOURS = float(os.environ.get("EMODEMO_CACHE_HOURS", "1"))  # uploads are deleted after this long
CONCURRENCY = int(os.environ.get("EMODEMO_CONCURRENCY", "1"))  # analyses run at once; others queue
TIMELINE_SECONDS = recording_limit()  # the Timeline tab's limit per recording (an hour; 10 minutes on a Space)
SAVED_COMPARISON = Path(__file__).resolve().parent / "bench" / "results" / "compare.json"  # bench/compare.py
SAVED_GENERALISATION = SAVED_COMPARISON.with_name("generalisation.json")  # bench/generalisation.py
SAVED_FUSION = SAVED_COMPARISON.with_name("fusion.json")  # bench/fusion.py, with fusion_tess_report.json
SAVED_GUESSED_WORDS = SAVED_COMPARISON.with_name("guessed_words.json")  # bench/guessed_words.py


def on_gpu(fn):
    """On a Hugging Face ZeroGPU Space (the ``spaces`` package is there), run ``fn`` with a GPU
    attached (``@spaces.GPU``); elsewhere ``fn`` as it is (the pipeline uses a local GPU if any)."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn)


def glibc():
    """The C library when it is glibc (Linux), else None: what :func:`give_back_memory` trims."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


LIBC = glibc()
if LIBC is not None:
    LIBC.mallopt(-8, 2)  # M_ARENA_MAX: 2 malloc arenas, not 8 per core for Gradio's many worker threads


def give_back_memory() -> None:
    """Hand what a finished request freed back to the system: glibc would keep it for this process."""
    gc.collect()
    if LIBC is not None:
        LIBC.malloc_trim(0)


EXAMPLES = Path(__file__).resolve().parent / "examples"  # made by scripts/make_examples.sh
pipeline = Pipeline()  # loads Whisper and every checkpoint once, at start-up
give_back_memory()  # what loading them freed (about 50 MB of converted weights)
ANSWERING = pipeline.voice_models + pipeline.face_models  # one ranked answer each
EXPLAINED = [m for m in ANSWERING if m in pipeline.explainable]  # models that draw what they saw
EXPERTS = {
    modality: f"{MODALITY_NAMES[modality]} ({pipeline.experts[modality].name})"  # voice, words, face
    for modality in MODALITY_NAMES
    if modality in pipeline.experts
}


@on_gpu
def analyse(audio: str | None, video: str | None):
    """The Analyse tab's answers, yielded as they are ready (:func:`page`): the answers of the
    models that hear the voice alone, then the transcript and the words models', the face models'
    for a video. Each page also keeps the analysis so far for :func:`draw`, which runs as its own
    event in the same queue: twenty users at once all get their answers before anyone's figures."""
    if not (audio or video):
        raise gr.Error("Give a clip first: upload a file, record from the microphone, or film with the webcam.")
    both = bool(audio and video)
    try:
        for result in pipeline.stages(video or audio):
            yield *page(result, both=both), result
    except ClipError as err:
        raise gr.Error(str(err)) from None


@on_gpu
def draw(result):
    """What each model looked at in the analysed clip, one figure after another; then the analysis
    (its waves, states and figures) is dropped and the memory given back."""
    figures, views = (pipeline.explain(result) if result is not None else {}), {}
    if not figures:
        yield *[None] * len(EXPLAINED), None
    for n, (name, figure) in enumerate(figures.items(), start=1):
        views[name] = encoded(figure)
        yield *[views.get(m.name) for m in EXPLAINED], (result if n < len(figures) else None)
    result = figures = figure = None
    give_back_memory()


def page(result, both: bool = False) -> tuple:
    """The Analyse tab's outputs for an analysis so far: transcript, word timings, details (with a
    note when ``both`` a sound clip and a video were given), every model's ranked answer (None
    until it answered), the figures (cleared: :func:`draw` draws them), each modality alone and the
    fused answer with its bars."""
    t = result.transcript
    timing = "\n".join(f"| {k} | {v * 1000:.0f} ms |" for k, v in result.timings.items())
    both_note = ["Both a sound clip and a video were given: the video was analysed."] if both else []
    notes = "\n".join(f"- {n}" for n in result.notes + both_note + unsure_notes(result))
    details = (
        f"{notes}\n\n| stage | time |\n|---|---|\n{timing}\n\nDevice: `{result.device}`; "
        f"clip length analysed: {result.duration:.1f} s"
    )
    rankings = [dict(result.predictions[m.name].ranking) if m.name in result.predictions else None for m in ANSWERING]
    alone = pipeline.modalities_alone(result)
    return (
        t.text.strip() if t else "",
        t.word_rows() if t else [],
        details,
        *rankings,
        *[None] * len(EXPLAINED),
        alone,
        (no_words := words_missing(result, alone)),
        *fused_view(alone, no_words, *[DEFAULT_WEIGHT] * len(EXPERTS)),
    )


def words_missing(result, alone: dict) -> str:
    """Why the words expert takes no part in the fused answer so far ("" when it does, or when the
    app serves none): still being transcribed, none heard, or guessed (:func:`words_left_out`)."""
    if "text" not in EXPERTS or "text" in alone or "audio" not in alone:
        return ""
    return words_left_out(result.transcript) if result.transcript is not None else "they are still being transcribed"


def unsure_notes(result) -> list[str]:
    """A line per model whose calibrated top answer is under its "unsure" line."""
    return [
        f"**{p.model} is unsure**: its top answer ({p.top}, {p.ranking[0][1]:.0%}) is under the "
        f"{p.unsure_below:.0%} line chosen on validation speakers (above it, 80 % of their answers were right; "
        "fewer on voices it never met)."
        for p in result.predictions.values()
        if p.unsure
    ]


def saved_warnings(saved: Path = SAVED_GENERALISATION, words: Path = SAVED_GUESSED_WORDS) -> dict[str, str]:
    """Per model that collapses onto one answer on new voices, or trails the best voice model on unseen
    actors (:func:`cross_corpus.new_voice_warnings`), or loses its way on a sentence no actor said
    or with no words (:func:`cross_corpus.unsaid_sentence_warnings`), the line its answer box carries; none from a file
    not saved or from another version."""
    lines: dict[str, list[str]] = {}
    for path, warnings in ((saved, cross_corpus.new_voice_warnings), (words, cross_corpus.unsaid_sentence_warnings)):
        try:
            found = warnings(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, KeyError, TypeError, ValueError):
            continue
        for model, line in found.items():
            lines.setdefault(model, []).append(line)
    return {model: "; ".join(parts) for model, parts in lines.items()}


NEW_VOICE_WARNINGS = saved_warnings()


def model_title(m) -> str:
    if m in pipeline.face_models:
        return f"{m.name} (faces, video only)"
    return f"{m.name} ⚠ {NEW_VOICE_WARNINGS[m.name]}" if m.name in NEW_VOICE_WARNINGS else m.name


def encoded(figure) -> PlotData:
    """A matplotlib figure drawn once into a PNG for a ``gr.Plot`` (Gradio would draw it again at
    every yield, and as WebP, which takes longer to encode). zlib level 1: 10-15 % larger files
    for 10-20 % less time, on a page the user waits for."""
    import base64
    import io

    with io.BytesIO() as png:
        figure.savefig(png, format="png", pil_kwargs={"compress_level": 1})
        return PlotData(type="matplotlib", plot="data:image/png;base64," + base64.b64encode(png.getvalue()).decode())


def fused_view(alone: dict, no_words: str, *weights: float):
    """The fused answer, a line on how far to trust it, and the per-modality bars for the weights on
    the sliders; ``no_words`` says why the words take no part ("" when they do)."""
    if not alone:
        return None, "", None
    scales = dict(zip(EXPERTS, weights))
    try:
        fused = pipeline.fused(alone, scales)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    return fused, fused_note(alone, scales, fused, no_words), modality_bars(alone, fused, EXPERTS)


def fused_note(alone: dict, scales: dict, fused: dict, no_words: str = "") -> str:
    """Whether the fused answer is over the learned fusion's "unsure" line ("" when it has none), or
    why the words take no part in it (``no_words``)."""
    line = getattr(pipeline.stacker, "unsure_below", None)
    if line is None:
        return ""
    unsure = pipeline.fused_unsure(alone, scales, fused)
    top = max(fused, key=fused.get)
    chosen = (
        f"the {line:.1%} line chosen on held-out actors' clips, where 80 % of the fused answers above it were "
        "right (fewer on other new voices: see the fusion's model card)"
    )
    if no_words:
        read = " and the ".join(MODALITY_NAMES[m] for m in alone if scales.get(m, 1.0) > 0)
        return (
            f"The words take no part ({no_words}): the fused answer reads the {read} alone. Its *unsure* "
            f"line, chosen for voice and words, does not apply; the details say if the voice expert "
            f"({pipeline.experts['audio'].name}) is unsure."
        )
    if unsure is None:
        return f"The fused answer's *unsure* line ({line:.1%}) holds for voice and words with both sliders at 1."
    if unsure:
        return f"**The fused answer is unsure**: {top} at {fused[top]:.1%}, under {chosen}."
    return f"Fused answer {top} at {fused[top]:.1%}, over {chosen}."


def saved_markdown(saved: Path, render, how: str) -> str:
    """A result a bench script saved (JSON), rendered as Markdown by ``render``; or a line saying
    that ``how`` (the command) makes it, when it is missing or from another version."""
    try:
        return render(json.loads(saved.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return f"Nothing saved here yet ({saved.name}): {how} measures it."
    except (KeyError, TypeError, ValueError):  # a file from another version: never cost the page
        return f"The saved {saved.name} is from another version: re-run {how}."


def side_by_side_markdown(saved: Path = SAVED_COMPARISON) -> str:
    """Every model on every benchmark and what each served one costs, as ``bench/compare.py`` saved it."""
    return saved_markdown(saved, side_by_side, "`python bench/compare.py`")


def generalisation_markdown(saved: Path = SAVED_GENERALISATION) -> str:
    """Every served model beyond RAVDESS (TESS, the robustness set), as ``bench/generalisation.py`` saved it."""
    return saved_markdown(saved, cross_corpus.markdown_table, "`make generalisation`")


def headline_markdown_table(fusion: Path = SAVED_FUSION) -> str:
    """The README's headline table: the fused answer, then every served model, in-corpus and on TESS,
    as the benches saved them (``fusion`` and the files beside it)."""
    names = (SAVED_COMPARISON.name, SAVED_GENERALISATION.name, fusion.name, "fusion_tess_report.json")
    missing = next((fusion.with_name(n) for n in names if not fusion.with_name(n).is_file()), fusion)
    read = lambda name: json.loads(fusion.with_name(name).read_text(encoding="utf-8"))
    return saved_markdown(
        missing,  # read first, so that a missing file is the one named
        lambda _: headline_table(*(read(n) for n in names)),
        "`python bench/compare.py`, `make generalisation` and `python bench/fusion.py`",
    )


def compare_models() -> None:
    """The fused answer and every served model at a glance; every model side by side; then one row
    per model: what it was scored on, its metrics, and its confusion matrix (plotly)."""
    gr.Markdown(
        "The fused answer and every served model: accuracy in percent on its own test (RAVDESS: "
        "5 folds by actor) and on TESS, a corpus no model trained on; cost per 4 s clip on one CPU thread."
    )
    gr.Markdown(headline_markdown_table(), elem_id="headline-table")
    with gr.Accordion("Every model on every benchmark, and what each costs (notebook 06, docs/results.md)", open=False):
        gr.Markdown(side_by_side_markdown())
    with gr.Accordion(
        "Beyond RAVDESS: TESS, unseen actors through noise and telephone lines, the collapse (docs/results.md)",
        open=False,
    ):
        gr.Markdown(generalisation_markdown())
    gr.Markdown(
        "Each model's confusion matrix and metrics on its own evaluation data, as stored in its "
        "checkpoint (rows: true emotion; numbers: share of the row, counts in brackets)."
    )
    for m in pipeline.models:
        title, report = headline_report(m.meta)
        with gr.Row():
            gr.Markdown(headline_markdown(m.name, m.meta))
            gr.Plot(confusion_matrix_plotly(report["confusion_matrix"], report["labels"], title=m.name))


@on_gpu
def evaluate(archive: str | None, progress=gr.Progress()):
    """Every model's metrics and confusion matrix on a zip of labelled clips."""
    import tempfile

    if not archive:
        raise gr.Error("Upload a zip of labelled clips first (RAVDESS file names, or a CSV with file and label).")
    with tempfile.TemporaryDirectory() as folder:
        try:
            reports, notes = evaluate_upload(
                pipeline, archive, folder, progress=lambda done, total: progress((done, total), desc="clips analysed")
            )
        except UploadError as err:
            raise gr.Error(str(err)) from None
    give_back_memory()
    rows = [
        f"| {name} | {r['n']} | {r['WA']:.3f} | {r['UA']:.3f} | {r['WF1']:.3f} | {r['UF1']:.3f} |"
        for name, r in reports.items()
    ]
    table = "| model | clips | WA | UA | WF1 | UF1 |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    summary = table + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
    plots = [
        confusion_matrix_plotly(reports[m.name]["confusion_matrix"], reports[m.name]["labels"], title=m.name)
        if m.name in reports
        else None
        for m in ANSWERING
    ]
    return summary, *plots


TIMELINE_COLUMNS = ["channel", "start (s)", "end (s)", "emotion", "confidence", "unsure", "words"]


@on_gpu
def build_timeline(recording: str | None, sides: str, progress=gr.Progress()):
    """The Timeline tab: every speech segment of a long recording answered (:mod:`emodemo.serving.timeline`),
    a progress bar while it runs; the emotions over time (one plot per side of a call), the segments'
    table, the transcript and the CSV / JSON-lines downloads."""
    import tempfile

    if not recording:
        raise gr.Error("Give a recording first: upload a file or record from the microphone.")
    channels = "each" if sides.startswith("each") else "mix"
    try:
        length = probe_duration(recording)
        total = min(length, TIMELINE_SECONDS)
        records = []
        for record in analyse_recording(
            pipeline,
            recording,
            channels=channels,
            max_seconds=TIMELINE_SECONDS,
            name=Path(recording).name,
            on_progress=lambda s: progress((round(min(s, total)), round(total)), desc="seconds analysed", unit="s"),
        ):
            records.append(record)
    except (AudioError, ValueError) as err:
        raise gr.Error(str(err)) from None
    if not records:
        raise gr.Error("No speech was found in the recording: check the microphone or the file's volume.")
    records.sort(key=lambda r: (r["start"], r["channel"] or 0))
    plots = []
    for channel in [None] if channels == "mix" else [0, 1]:
        mine = [r for r in records if r["channel"] == channel]
        times, track = smoothed_track(mine)
        plots.append(
            timeline_plotly(
                mine,
                times,
                track,
                CANONICAL7,
                title="emotion over time"
                if channel is None
                else f"emotion over time, {'left' if channel == 0 else 'right'} side",
            )
            if mine
            else None
        )
    folder = Path(tempfile.mkdtemp(prefix="emodemo-timeline-"))
    jsonl = folder / f"{Path(recording).stem}.segments.jsonl"
    table_file = folder / f"{Path(recording).stem}.segments.csv"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    write_csv(jsonl, table_file)
    table = [
        [
            "" if r["channel"] is None else r["channel"],
            r["start"],
            r["end"],
            r["emotion"],
            round(r["confidence"], 2),
            "unsure" if r["unsure"] else "",
            r["words"] or "",
        ]
        for r in records
    ]
    note = (
        f"Only the first {TIMELINE_SECONDS / 60:.0f} minutes were analysed (the limit of this app)."
        if length > TIMELINE_SECONDS
        else ""
    )
    transcript = "\n".join(
        f"- **{r['start']:.1f}-{r['end']:.1f} s** ({r['emotion']}{', unsure' if r['unsure'] else ''}): "
        f"{r['words'] or ''}"
        for r in records
    )
    give_back_memory()
    return (
        *(plots + [None])[:2],
        table,
        f"{note}\n\n{transcript}".strip(),
        [str(table_file), str(jsonl)],
        {"path": recording, "records": records},
    )


@on_gpu
def open_segment(state: dict | None, evt: gr.SelectData):
    """A row of the timeline's table selected: the segment's sound to play, every model's answer for
    it alone and what the models looked at in it (it is transcribed again on its own)."""
    if not state or evt.index is None:
        raise gr.Error("Build a timeline first, then select one of its segments.")
    record = state["records"][evt.index[0]]
    try:
        wave = read_span(state["path"], record["start"], record["end"], record["channel"])
        analysis = pipeline.analyse_wave(wave)
    except (AudioError, ClipError, ValueError) as err:
        raise gr.Error(str(err)) from None
    figures = pipeline.explain(analysis)
    answers = "\n".join(
        f"- {p.model}: {p.top} {p.ranking[0][1]:.0%}{' (unsure)' if p.unsure else ''}"
        for p in analysis.predictions.values()
    )
    summary = (
        f"**{record['start']:.1f}-{record['end']:.1f} s**: {analysis.transcript.text if analysis.transcript else ''}"
        f"\n\n{answers}"
    )
    views = [encoded(figures[m.name]) if m.name in figures else None for m in EXPLAINED]
    return (16000, (np.clip(wave, -1, 1) * 32767).astype(np.int16)), summary, *views


def live_update(chunk, state: LiveState | None):
    """The Live tab, once per microphone chunk: the voice models on the last 3 s (:mod:`emodemo.serving.live`);
    the current answer and the track so far (the track only when a new point was added)."""
    if chunk is None:
        return gr.skip(), gr.skip(), state
    rate, samples = chunk
    state, point = listen(pipeline, state, rate, samples)
    if point is None:
        return gr.skip(), gr.skip(), state
    if point["silent"]:
        now = {"(no speech)": 1.0}
    else:
        now = {
            f"{label}{' (unsure)' if point['unsure'] and label == point['emotion'] else ''}": p
            for label, p in point["fused"].items()
        }
    times = np.array([p["time"] for p in state.points])
    track = np.array(
        [[p["fused"][label] for label in CANONICAL7] if not p["silent"] else [np.nan] * 7 for p in state.points]
    )
    return now, timeline_plotly([], times, track, CANONICAL7, title="the voice, live (last 3 s, every second)"), state


def launch_options() -> dict:
    """``demo.launch()``'s keywords: where to listen (Gradio's own variables) and the upload limit."""
    return dict(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=f"{MAX_UPLOAD_MB}mb",
    )


# Every CACHE_HOURS, Gradio deletes the uploads and outputs it cached more than CACHE_HOURS ago.
with gr.Blocks(title=TITLE, delete_cache=(int(CACHE_HOURS * 3600), int(CACHE_HOURS * 3600))) as demo:
    gr.Markdown(f"# {TITLE}\n{INTRO}")
    with gr.Tab("Analyse a clip"):
        with gr.Row():
            with gr.Column():
                clip = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip (sound)", elem_id="clip")
                film = gr.Video(sources=["upload", "webcam"], label="or a video with a face (mp4, webm, mov)")
                go = gr.Button("Analyse", variant="primary")
                gr.Examples(
                    [[str(path)] for path in sorted(EXAMPLES.glob("*.wav"))],
                    inputs=[clip],
                    label="Examples made by the project (espeak-ng's flat synthetic voice, emotional words; "
                    "one in German)",
                )
            with gr.Column():
                transcript = gr.Textbox(label="Transcript (Whisper)", interactive=False, elem_id="transcript")
                words = gr.Dataframe(headers=["word", "start (s)", "end (s)"], label="Word timings")
                details = gr.Markdown()
        gr.Markdown("### What each model answers")
        if NEW_VOICE_WARNINGS:
            gr.Markdown(
                "⚠ marks a model that, on voices it never met, either gave one answer to more than "
                f"{cross_corpus.COLLAPSE_LINE:.0%} of the clips (TESS, a second English corpus: there it hears "
                "the corpus it was trained on more than the emotion) or scored more than "
                f"{100 * cross_corpus.BEHIND_LINE:.0f} points of UA under the best voice model (unseen RAVDESS "
                "actors, given what the app gives it), or lost more than as many points of WA with a sentence "
                "no actor said or with no words (speech Whisper only guessed): weigh its answer on your voice "
                "accordingly."
            )
        if not pipeline.voice_models:
            gr.Markdown("**No trained model yet**: run `make reproduce-speech_probe`, then restart the app.")
        predictions = []
        for start in range(0, len(ANSWERING), 3):  # three answers per row
            with gr.Row():
                predictions += [
                    gr.Label(label=model_title(m), num_top_classes=3, elem_classes="prediction")
                    for m in ANSWERING[start : start + 3]
                ]
        with gr.Accordion("Each modality alone, and fused with your weights", open=True):
            gr.Markdown(
                "Per modality, the model that reads it alone (voice, words, face for a video). "
                + (
                    "The fused answer is a learned fusion of their calibrated answers (fitted on held-out "
                    "actors' clips with their own words and with emotional lines, so neutral words do not "
                    "outvote the voice); a slider scales a modality's say (1 as learned, 0 ignored)."
                    if pipeline.stacker is not None
                    else "The fused answer is their weighted mean. Move a slider to change a modality's weight."
                )
                + " Every model's answers are calibrated on held-out data (the voice and words models on "
                "held-out speakers, the face model on FER-2013's validation images); an answer whose "
                "confidence is under the line where 80 % of those held-out answers were right is marked "
                "*unsure*."
            )
            with gr.Row():
                sliders = [
                    gr.Slider(0, 1, value=DEFAULT_WEIGHT, step=0.05, label=f"weight of {name}")
                    for name in EXPERTS.values()
                ]
            with gr.Row():
                with gr.Column():
                    fused = gr.Label(label="fused answer", num_top_classes=4, elem_id="fused")
                    fused_trust = gr.Markdown(elem_id="fused-note")
                bars = gr.Plot(label="modalities and fusion", elem_id="fusion-bars")
            alone = gr.State({})
            no_words = gr.State("")  # why the words take no part in the fused answer ("" when they do)
        with gr.Accordion(
            "What the models looked at: attention over words and sound, MESM's kept positions, the face track",
            open=True,
        ):
            views = [gr.Plot(label=m.name, elem_classes="attention") for m in EXPLAINED]
    with gr.Tab("Timeline (long recordings)"):
        gr.Markdown(
            f"Upload or record a long recording (an interview, a call, a lecture; up to "
            f"{TIMELINE_SECONDS / 60:.0f} minutes are analysed). The app finds the speech (Silero voice-"
            "activity detection), cuts it into 1-10 s segments, transcribes them and asks every voice and "
            "words model about each. Select a row of the table to play that segment and see what the "
            "models looked at in it."
        )
        with gr.Row():
            recording = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Recording", elem_id="recording"
            )
            with gr.Column():
                sides = gr.Radio(
                    ["mixed (one voice track)", "each side apart (a stereo call)"],
                    value="mixed (one voice track)",
                    label="Channels",
                )
                build = gr.Button("Build the timeline", variant="primary")
        timeline_plots = [
            gr.Plot(label="emotion over time", elem_id="timeline"),
            gr.Plot(label="emotion over time (right side)"),
        ]
        segments = gr.Dataframe(
            headers=TIMELINE_COLUMNS, label="Segments (select one)", interactive=False, elem_id="segments"
        )
        downloads = gr.File(label="Download the segments (CSV, JSON lines)", file_count="multiple")
        with gr.Accordion("Transcript", open=False):
            timeline_text = gr.Markdown()
        with gr.Accordion("The selected segment", open=True):
            segment_sound = gr.Audio(label="segment", interactive=False, elem_id="segment-sound")
            segment_answers = gr.Markdown(elem_id="segment-answers")
            segment_views = [gr.Plot(label=m.name) for m in EXPLAINED]
        timeline_state = gr.State(None, time_to_live=CACHE_HOURS * 3600)
        # long recordings have a queue of their own: a short clip never waits behind an hour of audio
        build.click(
            build_timeline,
            inputs=[recording, sides],
            outputs=[*timeline_plots, segments, timeline_text, downloads, timeline_state],
            api_name="timeline",
            concurrency_id="timeline",
            concurrency_limit=1,
        )
        segments.select(
            open_segment,
            inputs=timeline_state,
            outputs=[segment_sound, segment_answers, *segment_views],
            api_name=False,
            concurrency_id="clips",
            concurrency_limit=CONCURRENCY,
        )
    with gr.Tab("Live microphone"):
        gr.Markdown(
            "Press record and speak: every second, the models that hear the voice alone answer for the "
            "last 3 seconds (no transcript: Whisper would take longer than the second it has). Stop to "
            "end; a session lasts at most 10 minutes."
        )
        with gr.Row():
            mic = gr.Audio(sources=["microphone"], streaming=True, label="Microphone", elem_id="live-mic")
            live_now = gr.Label(label="now (fused voice answer)", num_top_classes=3, elem_id="live-now")
        live_track = gr.Plot(label="the voice over time", elem_id="live-track")
        live_state = gr.State(None)
        mic.stream(
            live_update,
            inputs=[mic, live_state],
            outputs=[live_now, live_track, live_state],
            stream_every=EVERY_SECONDS,
            time_limit=600,
            api_name=False,
            concurrency_id="live",
            concurrency_limit=1,
        )  # one chunk at a time, in order: two at once would each update a copy of the state
        mic.start_recording(lambda: (None, None, None), outputs=[live_now, live_track, live_state], api_name=False)
    with gr.Tab("Compare models"):
        compare_models()
    with gr.Tab("Evaluate on your clips"):
        gr.Markdown(
            "Upload a zip of labelled clips: files named as RAVDESS names them "
            "(`03-01-05-01-01-01-12.wav`, the third field is the emotion), or any names with a CSV "
            "holding `file` and `label` columns. Every model answers every clip; face models answer videos."
        )
        archive = gr.File(file_types=[".zip"], label="Labelled clips (zip)")
        score = gr.Button("Evaluate", variant="primary")
        scores = gr.Markdown()
        matrices = [gr.Plot(label=m.name) for m in ANSWERING]
        score.click(evaluate, inputs=archive, outputs=[scores, *matrices], api_name="evaluate")
    analysis = gr.State(None, time_to_live=CACHE_HOURS * 3600)  # the last analysis, until its figures are drawn
    # one queue for answers and figures, first come first served: the figures' event joins it when the answers are out
    go.click(
        analyse,
        inputs=[clip, film],
        outputs=[transcript, words, details, *predictions, *views, alone, no_words, fused, fused_trust, bars, analysis],
        api_name="analyse",
        concurrency_id="clips",
        concurrency_limit=CONCURRENCY,
        show_progress_on=[transcript],
    ).success(
        draw,
        inputs=analysis,
        outputs=[*views, analysis],
        api_name="explain",
        concurrency_id="clips",
        concurrency_limit=CONCURRENCY,
        show_progress="minimal",
    )
    for slider in sliders:
        slider.change(
            fused_view, inputs=[alone, no_words, *sliders], outputs=[fused, fused_trust, bars], api_name=False
        )

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=CONCURRENCY).launch(**launch_options())
