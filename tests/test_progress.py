import os
import subprocess
import sys

from emodemo.core.progress import bar

SHOWN_BAR_DISABLED = (
    "from emodemo.core.progress import bar; "
    "print(bar(range(3), show=True, file=open(__import__('os').devnull, 'w')).disable)"
)


def shown_bar_disabled(tqdm_disable: str | None) -> str:
    """Whether a bar asked to show is off, in a fresh process (tqdm reads its environment once, on import)."""
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    if tqdm_disable is not None:
        env["TQDM_DISABLE"] = tqdm_disable
    return subprocess.run(
        [sys.executable, "-c", SHOWN_BAR_DISABLED], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_shown_bar_obeys_tqdm_disable_from_the_environment():
    assert shown_bar_disabled("1") == "True"
    assert shown_bar_disabled(None) == "False"


def test_a_hidden_bar_still_yields_every_item():
    hidden = bar(iter("abc"), show=False)
    assert hidden.disable and list(hidden) == ["a", "b", "c"]
