"""The Ray Data path of the timeline: on a local 2-CPU Ray instance, the same segments as the plain
path for the same real recordings, and a bad file noted, never stopping the run."""

from __future__ import annotations

import json
import shutil

import pytest

ray = pytest.importorskip("ray", reason="the Ray extra is not installed: pip install -r requirements-ray.txt")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_gives_the_plain_paths_segments_for_the_same_files(local_ray, ravdess_root, tmp_path):
    from emodemo.cli import main

    folder = tmp_path / "recordings"
    folder.mkdir()
    for take in ("03-01-05-02-01-01-01", "03-01-04-01-02-02-01", "03-01-03-01-02-01-01"):
        shutil.copy(ravdess_root / "Actor_01" / f"{take}.flac", folder)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    common = ["--models", "speech_probe", "--no-transcript", "--no-progress"]
    assert main(["timeline", str(folder), "--out", str(tmp_path / "plain.jsonl"), *common]) == 0
    assert (
        main(["timeline", str(folder), "--out", str(tmp_path / "ray.jsonl"), "--ray", "--workers", "2", *common]) == 0
    )

    def lines(name):
        return [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]

    plain, on_ray = lines("plain.jsonl"), lines("ray.jsonl")
    segments = [
        {k: r[k] for k in ("file", "segment", "start", "end", "emotion", "fused")} for r in plain if "segment" in r
    ]
    assert len(segments) == 3
    assert [
        {k: r[k] for k in ("file", "segment", "start", "end", "emotion", "fused")} for r in on_ray if "segment" in r
    ] == segments
    assert [r for r in on_ray if "error" in r] == [r for r in plain if "error" in r] != []
    assert sorted(r["file"] for r in on_ray if r.get("done")) == sorted(r["file"] for r in plain if r.get("done"))
