"""emodemo's Gradio app: give a clip, read its transcript and what each trained model hears.

Run ``make app`` (or ``python app.py``) and open http://127.0.0.1:7860. All the work happens in
:mod:`emodemo.pipeline`; this file only lays out the page.
"""
from __future__ import annotations

import os

import gradio as gr

from emodemo.evaluation import headline_markdown, headline_report
from emodemo.pipeline import ClipError, Pipeline
from emodemo.viz import confusion_matrix_plotly

TITLE = "emodemo: what emotion does this clip carry?"
INTRO = """Upload or record a short English clip (a few seconds of speech), as sound or as video with a
face in view. The app transcribes it with Whisper, asks every trained voice and words model which
emotion it hears and, for a video, the face models what they see. Models are trained on acted
data (RAVDESS speech, FER-2013 faces); expect them to be unsure on everyday speech."""

pipeline = Pipeline()  # loads Whisper and every checkpoint once, at start-up
ANSWERING = pipeline.voice_models + pipeline.face_models                        # one ranked answer each
EXPLAINED = [m for m in ANSWERING if hasattr(m.recipe, "explain")]              # models that draw what they saw


def analyse(audio: str | None, video: str | None):
    if not (audio or video):
        raise gr.Error("Give a clip first: upload a file, record from the microphone, or film with the webcam.")
    try:
        result = pipeline.analyse(video or audio)
    except ClipError as err:
        raise gr.Error(str(err)) from None
    if audio and video:
        result.notes.append("Both a sound clip and a video were given: the video was analysed.")
    t = result.transcript
    transcript = t.text.strip() if t else ""
    timing = "\n".join(f"| {k} | {v * 1000:.0f} ms |" for k, v in result.timings.items())
    notes = "\n".join(f"- {n}" for n in result.notes)
    details = (f"{notes}\n\n| stage | time |\n|---|---|\n{timing}\n\nDevice: `{result.device}`; "
               f"clip length analysed: {result.duration:.1f} s")
    rankings = [dict(result.predictions[m.name].ranking) if m.name in result.predictions else None for m in ANSWERING]
    figures = pipeline.explain(result)
    views = [figures.get(m.name) for m in EXPLAINED]
    return transcript, t.word_rows() if t else [], details, *rankings, *views



def compare_models() -> None:
    """One row per model: what it was scored on, its metrics, and its confusion matrix (plotly)."""
    gr.Markdown("Each model's confusion matrix and metrics on its own evaluation data, as stored in its "
                "checkpoint (rows: true emotion; numbers: share of the row, counts in brackets).")
    for m in pipeline.models:
        title, report = headline_report(m.meta)
        with gr.Row():
            gr.Markdown(headline_markdown(m.name, m.meta))
            gr.Plot(confusion_matrix_plotly(report["confusion_matrix"], report["labels"], title=m.name))


with gr.Blocks(title=TITLE) as demo:
    gr.Markdown(f"# {TITLE}\n{INTRO}")
    with gr.Tab("Analyse a clip"):
        with gr.Row():
            with gr.Column():
                clip = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip (sound)")
                film = gr.Video(sources=["upload", "webcam"], label="or a video with a face (mp4, webm, mov)")
                go = gr.Button("Analyse", variant="primary")
            with gr.Column():
                transcript = gr.Textbox(label="Transcript (Whisper)", interactive=False)
                predictions = [gr.Label(label=f"{m.name}: emotion" + (" (faces, video only)" if m in pipeline.face_models else ""),
                                        num_top_classes=4) for m in ANSWERING]
                if not pipeline.voice_models:
                    gr.Markdown("**No trained model yet**: run `make train-speech_probe`, then restart the app.")
                words = gr.Dataframe(headers=["word", "start (s)", "end (s)"], label="Word timings")
                details = gr.Markdown()
        with gr.Accordion("What the models looked at: attention over words and sound, MESM's kept positions, "
                          "the face track", open=True):
            views = [gr.Plot(label=m.name) for m in EXPLAINED]
    with gr.Tab("Compare models"):
        compare_models()
    go.click(analyse, inputs=[clip, film], outputs=[transcript, words, details, *predictions, *views], api_name="analyse")

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=1).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
