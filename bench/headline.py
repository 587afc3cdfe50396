"""The README's headline table, and where the benches write their Markdown.

The app's fused answer, then one row per served model: its in-corpus WA / UA, its TESS UA and its
cost, rendered by :func:`emodemo.reports.comparison.headline_table` from the saved results
(``bench/results/compare.json``, ``bench/results/generalisation.json``, and ``bench/results/fusion.json``
with ``fusion_tess_report.json`` for the fused answer) into README.md between the ``headline`` markers.
``bench/compare.py``, ``bench/generalisation.py`` and ``bench/fusion.py`` call :func:`render_headline`
after saving, so the table follows their numbers; the full tables go to ``docs/results.md`` (:data:`RESULTS_PAGE`).

Usage::

    python bench/headline.py        # re-render the README's headline table from the saved JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

README = REPO / "README.md"
RESULTS_PAGE = REPO / "docs" / "results.md"  # every full results table and its protocol
RESULTS = REPO / "bench" / "results"
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def headline(results: Path = RESULTS) -> str:
    """The headline table from the saved comparison and generalisation results under ``results``."""
    from emodemo.reports import comparison

    read = lambda name: json.loads((results / name).read_text(encoding="utf-8"))
    return comparison.headline_table(
        read("compare.json"), read("generalisation.json"), read("fusion.json"), read("fusion_tess_report.json")
    )


def render_headline(readme: Path = README, results: Path = RESULTS) -> None:
    """Rewrite the block of ``readme`` between the headline markers."""
    from emodemo.core import replace_marked_block

    replace_marked_block(readme, HEADLINE_START, HEADLINE_END, headline(results))


if __name__ == "__main__":
    render_headline()
    print(headline())
