"""The README and docs/: short enough to read, every relative link and anchor found, the Space's
front matter at the top, and each generated block in its page and as its script renders it."""

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings: lower case, punctuation dropped, spaces to
    hyphens (outside code blocks)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    }


def test_the_readme_is_short_and_keeps_the_space_front_matter():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, "the README is for a newcomer's first ten minutes: move details to docs/"
    assert lines[0] == "---" and "app_file: app.py" in lines and "sdk: gradio" in lines
    assert lines.index("---", 1) < 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page):
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    for target in (a or b for a, b in LINK.findall(text)):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name} links to {target}: no such heading"


def test_each_generated_block_lives_in_one_page():
    readme, results = README.read_text(encoding="utf-8"), (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    for name in ("compare", "generalisation", "timeline"):
        assert f"<!-- {name}:start -->" in results and f"<!-- {name}:end -->" in results
        assert f"<!-- {name}:start -->" not in readme
    assert "<!-- headline:start -->" in readme and "<!-- headline:start -->" not in results


def test_the_results_page_shows_the_saved_timeline():
    sys.path.insert(0, str(REPO / "bench"))
    import headline
    import timeline

    saved = json.loads(timeline.RESULTS.read_text())
    live = timeline.RESULTS.with_name("live.json")
    table = timeline.markdown(saved, json.loads(live.read_text()) if live.is_file() else None)
    page = headline.RESULTS_PAGE.read_text(encoding="utf-8")
    assert f"{timeline.BLOCK_START}\n{table}\n{timeline.BLOCK_END}" in page, (
        "docs/results.md's timeline tables are stale: run `python bench/timeline.py --render-only`"
    )
