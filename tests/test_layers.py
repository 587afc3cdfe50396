"""The layers (issue 19): what `lint-imports` cannot see, since it reads packages only.

- app.py imports from the serving and reports layers alone (and the standard library and third
  parties): the app is a page over :mod:`emodemo.serving`;
- the notebooks, benches, scripts and the app import from the public surface: a layer package
  (``from emodemo.serving import Pipeline``, or one of its modules: ``from emodemo.serving import
  cross_corpus``), ``emodemo`` itself, or the data, models and recipes packages and their modules;
  never from a module inside a layer folder, so that a module moving within its layer breaks none
  of them (the one exception: a name that is also the name of a module of its layer, which the
  layer cannot export, comes from its module);
- each layer's ``__all__`` names exist, and none hides a module of its layer;
- the contracts in pyproject.toml hold (`make test` runs `lint-imports` first; this runs it under
  plain pytest too).
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("core", "weights", "inputs", "speech", "protocols", "training", "reports", "serving")
OPEN_PACKAGES = ("data", "models", "recipes")  # packages whose modules are their public surface
APP_LAYERS = {"emodemo.serving", "emodemo.reports"}


def emodemo_imports(source: str) -> list[tuple[str, list[str]]]:
    """``(module, imported names)`` of every import of emodemo in ``source`` (function bodies too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and (node.module == "emodemo" or node.module.startswith("emodemo."))
        ):
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name == "emodemo" or a.name.startswith("emodemo.")]
    return found


def notebook_code(path: Path) -> str:
    """A notebook's code cells as one Python source (IPython's ``%`` and ``!`` lines left out)."""
    cells = [
        "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"
    ]
    return "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def shell_python(path: Path) -> str:
    """The import statements of a shell script's ``$PY -c "..."`` one-liners, as Python source."""
    statements = [
        part.strip()
        for m in re.finditer(r'\$PY -c "([^"]*)"', path.read_text(encoding="utf-8"))
        for part in re.split(r";|\\\n", m.group(1))
    ]
    return "\n".join(part for part in statements if part.startswith(("from ", "import ")))


def outside_sources() -> dict[str, str]:
    sources = {"app.py": (REPO / "app.py").read_text(encoding="utf-8")}
    for path in [*sorted((REPO / "bench").glob("*.py")), *sorted((REPO / "scripts").glob("*.py"))]:
        sources[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    for path in sorted((REPO / "scripts").glob("*.sh")):
        sources[str(path.relative_to(REPO))] = shell_python(path)
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        sources[str(path.relative_to(REPO))] = notebook_code(path)
    return sources


def modules_of(package: str) -> set[str]:
    return {m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__)}


def surface_problem(module: str, names: list[str]) -> str | None:
    """Why ``from module import names`` (or ``import module``) is not an import from the public surface."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in OPEN_PACKAGES or parts[1] == "__main__":
        return None
    if parts[1] not in LAYERS:
        return f"{module} is no layer of emodemo"
    layer = importlib.import_module(f"emodemo.{parts[1]}")
    if len(parts) == 2:
        unknown = [n for n in names if n not in getattr(layer, "__all__", ()) and n not in modules_of(layer.__name__)]
        return f"{module} exports no {unknown}" if unknown else None
    if set(names) & modules_of(layer.__name__):
        return None  # the function that shares its module's name (emodemo.inputs.normalise.normalise)
    return f"{module} is a module inside a layer folder: import from {layer.__name__}"


def test_app_imports_only_the_serving_and_reports_layers():
    imports = emodemo_imports((REPO / "app.py").read_text(encoding="utf-8"))
    assert imports, "app.py imports nothing of emodemo?"
    assert {module for module, _ in imports} <= APP_LAYERS, imports


OUTSIDE = sorted(outside_sources().items())


@pytest.mark.parametrize("name, source", OUTSIDE, ids=[name for name, _ in OUTSIDE])
def test_notebooks_benches_scripts_and_app_import_from_the_public_surface(name, source):
    problems = [p for module, names in emodemo_imports(source) if (p := surface_problem(module, names))]
    assert not problems, f"{name}: {problems}"


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_exports_what_it_names_and_hides_none_of_its_modules(layer):
    package = importlib.import_module(f"emodemo.{layer}")
    exported = getattr(package, "__all__", [])
    assert len(set(exported)) == len(exported)
    assert not set(exported) & modules_of(package.__name__)
    for name in exported:
        assert getattr(package, name, None) is not None, f"emodemo.{layer} exports {name}, which it does not have"
    for module in modules_of(package.__name__):  # a layer's module is one attribute away, as a module
        assert importlib.import_module(f"{package.__name__}.{module}") is getattr(package, module)


def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -r requirements-dev.txt)")
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
