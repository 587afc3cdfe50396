"""What results look like: figures (viz), the models side by side (comparison), each checkpoint's
headline evaluation (headline).

Code outside the package (the app included) imports from here, not from the modules: the names
below, or a module (``from emodemo.reports import comparison``).
"""

from emodemo.reports.comparison import headline_table, side_by_side
from emodemo.reports.headline import headline_markdown, headline_report
from emodemo.reports.viz import (
    EMOTION_COLOURS,
    accuracy_latency,
    attention_grid,
    attention_heatmap,
    coattention_steps,
    confusion_grid,
    confusion_matrix_figure,
    confusion_matrix_plotly,
    joined_attention_map,
    kept_positions,
    modality_bars,
    per_class_f1,
    reliability_diagrams,
    timeline_plotly,
    training_curves,
)

__all__ = [
    "EMOTION_COLOURS",
    "accuracy_latency",
    "attention_grid",
    "attention_heatmap",
    "coattention_steps",
    "confusion_grid",
    "confusion_matrix_figure",
    "confusion_matrix_plotly",
    "headline_markdown",
    "headline_report",
    "headline_table",
    "joined_attention_map",
    "kept_positions",
    "modality_bars",
    "per_class_f1",
    "reliability_diagrams",
    "side_by_side",
    "timeline_plotly",
    "training_curves",
]
