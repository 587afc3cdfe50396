"""The feature cache computes once, notices changes, and survives concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from emodemo.core.cache import FeatureCache, cache_root


class CountingExtractor:
    """A stand-in encoder that counts its calls; features depend on the file's bytes."""

    def __init__(self):
        self.calls = 0

    def __call__(self, path: Path) -> torch.Tensor:
        self.calls += 1
        return torch.tensor([float(b) for b in path.read_bytes()])


@pytest.fixture
def clip(tmp_path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(b"\x01\x02\x03")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "cache"


def test_second_call_reads_from_disk(clip, root):
    extract = CountingExtractor()
    first = FeatureCache("toy-v1", {"sr": 16000}, root=root).get_or_compute(clip, extract)
    second = FeatureCache("toy-v1", {"sr": 16000}, root=root).get_or_compute(clip, extract)
    assert extract.calls == 1 and torch.equal(first, second) and first.tolist() == [1.0, 2.0, 3.0]


def test_changed_config_name_or_file_recomputes(clip, root):
    extract = CountingExtractor()
    FeatureCache("toy-v1", {"sr": 16000}, root=root).get_or_compute(clip, extract)
    FeatureCache("toy-v1", {"sr": 8000}, root=root).get_or_compute(clip, extract)
    FeatureCache("toy-v2", {"sr": 16000}, root=root).get_or_compute(clip, extract)
    assert extract.calls == 3
    clip.write_bytes(b"\x09\x09\x09\x09")
    again = FeatureCache("toy-v1", {"sr": 16000}, root=root).get_or_compute(clip, extract)
    assert extract.calls == 4 and again.tolist() == [9.0] * 4


def test_content_key_survives_touch_and_copy_but_stat_key_does_not(clip, root, tmp_path):
    by_content, by_stat = FeatureCache("toy", root=root), FeatureCache("toy", root=root, hash_content=False)
    key_content, key_stat = by_content.key(clip), by_stat.key(clip)
    stat = clip.stat()
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert by_content.key(clip) == key_content
    assert by_stat.key(clip) != key_stat
    copy = tmp_path / "elsewhere" / clip.name
    copy.parent.mkdir()
    copy.write_bytes(clip.read_bytes())
    assert by_content.key(copy) == key_content


def test_dicts_and_arrays_round_trip_and_config_is_described(clip, root):
    cache = FeatureCache("toy-dict", {"layers": [1, 2]}, root=root)
    value = {"frames": np.ones((4, 2), dtype=np.float32), "mask": torch.tensor([True, False])}
    cache.put(clip, value)
    back = cache.get(clip)
    assert set(back) == {"frames", "mask"} and back["frames"].shape == (4, 2) and back["mask"].dtype == torch.bool
    assert '"layers"' in (cache.folder / "config.json").read_text()


def test_get_is_none_before_put_and_bad_inputs_fail_clearly(clip, root, tmp_path):
    cache = FeatureCache("toy", root=root)
    assert cache.get(clip) is None
    with pytest.raises(FileNotFoundError, match="no such file"):
        cache.get(tmp_path / "missing.wav")
    with pytest.raises(TypeError, match="tensors or dicts of tensors"):
        cache.put(clip, [1, 2, 3])
    with pytest.raises(ValueError, match="plain folder name"):
        FeatureCache("../escape", root=root)
    with pytest.raises(TypeError, match="must be JSON data"):
        FeatureCache("toy", {"fn": print}, root=root)


def test_damaged_entry_is_recomputed(clip, root):
    cache, extract = FeatureCache("toy", root=root), CountingExtractor()
    cache.get_or_compute(clip, extract)
    cache.entry_path(clip).write_bytes(b"not safetensors")
    assert cache.get_or_compute(clip, extract).tolist() == [1.0, 2.0, 3.0] and extract.calls == 2


def test_root_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EMODEMO_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere" / "features"
    assert FeatureCache("toy").folder.is_relative_to(tmp_path / "elsewhere")


def _slow_writer(args: tuple[str, str]) -> list[float]:
    root, clip = args

    def slow_extract(path: Path) -> torch.Tensor:
        time.sleep(0.2)  # long enough for every process to miss, compute and write at once
        return torch.arange(1000, dtype=torch.float32)

    return FeatureCache("toy-concurrent", root=root).get_or_compute(clip, slow_extract)[:3].tolist()


def test_concurrent_writers_leave_one_complete_entry(clip, root):
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_slow_writer, [(str(root), str(clip))] * 4)
    assert results == [[0.0, 1.0, 2.0]] * 4
    cache = FeatureCache("toy-concurrent", root=root)
    assert torch.equal(cache.get(clip), torch.arange(1000, dtype=torch.float32))
    assert {p.name for p in cache.folder.iterdir()} == {"config.json", cache.entry_path(clip).name}  # no temp files


def test_get_many_computes_only_the_missing_files_in_batches(tmp_path):
    files = []
    for i in range(5):
        f = tmp_path / f"clip{i}.wav"
        f.write_bytes(bytes([i]) * 10)
        files.append(f)
    cache = FeatureCache("batched-v1", {"k": 1}, root=tmp_path / "cache")
    cache.put(files[1], torch.full((2,), 1.0))
    calls = []

    def compute(paths):
        calls.append([p.name for p in paths])
        return [torch.full((2,), float(p.name[4])) for p in paths]

    values = cache.get_many(files, compute, batch=2, progress=False)
    assert calls == [["clip0.wav", "clip2.wav"], ["clip3.wav", "clip4.wav"]]  # clip1 was cached
    assert [float(v[0]) for v in values] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert cache.get_many(files, compute, batch=2, progress=False)[4].tolist() == [4.0, 4.0] and len(calls) == 2
