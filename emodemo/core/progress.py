"""Progress bars that can be switched off twice over: by the caller (``show=False``) and by the user
through tqdm's own environment (``TQDM_DISABLE=1``, read when tqdm is first imported; the notebooks
set it so that their saved outputs hold no bars). Passing ``disable=False`` to tqdm would override
the environment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def bar(items: Iterable[T], show: bool = True, **kwargs) -> Iterable[T]:
    """``items`` wrapped in a tqdm bar when ``show`` (tqdm's environment settings apply), else a silent one."""
    from tqdm.auto import tqdm

    return tqdm(items, **kwargs) if show else tqdm(items, disable=True, **kwargs)
