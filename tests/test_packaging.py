"""pyproject.toml describes the package: its packages are discovered (every layer folder ships), its
dependencies are ranges that admit the exact pins requirements*.txt install, and every extra's
packages are pinned there too."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

packaging = pytest.importorskip("packaging.requirements")

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def pins() -> dict[str, str]:
    found = {}
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-ray.txt"):
        for line in (REPO / name).read_text(encoding="utf-8").splitlines():
            match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
            if match:
                found[_canonical(match.group(1))] = match.group(3)
    return found


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_folder_is_discovered():
    from setuptools import find_packages

    config = PROJECT["tool"]["setuptools"]["packages"]["find"]
    discovered = set(find_packages(str(REPO), include=config["include"]))
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "emodemo").rglob("__init__.py")}
    assert discovered == folders and "emodemo.recipes" in discovered


def test_dependencies_are_ranges_that_admit_the_pinned_versions():
    from packaging.requirements import Requirement

    pinned = pins()
    extras = PROJECT["project"]["optional-dependencies"]
    assert {"app", "augment", "ray", "dev"} <= set(extras)
    for text in PROJECT["project"]["dependencies"] + [r for group in extras.values() for r in group]:
        requirement = Requirement(text)
        if requirement.name == "emodemo":
            continue
        assert "==" not in str(requirement.specifier), f"{text}: a range, not a pin (pins live in requirements.txt)"
        version = pinned.get(_canonical(requirement.name))
        assert version is not None, f"{requirement.name} is not pinned in requirements*.txt"
        assert requirement.specifier.contains(version, prereleases=True), f"{text} excludes the pinned {version}"
