"""The lesson rules of CONTRIBUTING.md ("Adding a lesson"), checked on every notebook.

nbval runs the notebooks and compares their outputs; these tests check how
they are written: names, titles, the skeleton, the budgets that keep code in
the package rather than in cells, nothing fetched at run time, and the state
in which they are committed (outputs kept, execution counts 1..n, volatile
metadata stripped, navigation as ``notebooks/tools/add_navigation.py`` writes
it). A failure names the notebook and, where there is one, the cell.
"""

from __future__ import annotations

import ast
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from .notebook_tools import tool

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
LESSONS = [p for p in ALL if not p.name.startswith("00-")]

NAME = re.compile(r"^\d\d-[a-z0-9]+(?:-[a-z0-9]+)*\.ipynb$")
MAX_CODE_CELLS = 15
MAX_CELL_LINES = 12
MAX_MEDIAN_LINES = 3
MAX_DEF_LINES = 5
MAX_IGNORED_OUTPUT_CELLS = 3
FETCHING = re.compile(
    r"^\s*[!%](pip|conda|mamba|wget|curl)\b|urllib\.request|requests\.get|urlretrieve", re.M
)
RANDOMNESS = re.compile(r"\brandom\b|default_rng|np\.random|\brng\b")
NAV_MARK = "<!--NAVIGATION-->"


def _read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def _code(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _markdown(nb: Any) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def _parse(source: str) -> ast.Module:
    """A cell as Python: IPython magics blanked, top-level ``await`` allowed."""
    magic = ("%", "!")
    lines = ["pass" if ln.lstrip().startswith(magic) else ln for ln in source.split("\n")]
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile("\n".join(lines), "<cell>", "exec", flags=flags, dont_inherit=True)
    assert isinstance(tree, ast.Module)
    return tree


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_there_are_lessons() -> None:
    assert (NOTEBOOKS / "00-index.ipynb").exists()
    assert LESSONS, "no lesson notebooks found"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_name_is_numbered_kebab_case(path: Path) -> None:
    assert NAME.match(path.name), f"{path.name}: name it NN-kebab-title.ipynb"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_committed_with_outputs_and_counts_1_to_n(path: Path) -> None:
    cells = _code(_read(path))
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; run it top to bottom"
        " (jupyter nbconvert --execute --inplace) before committing"
    )
    assert any(c.outputs for c in cells), f"{path.name}: committed without outputs"
    errors = [i for i, c in enumerate(cells, 1) if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"{path.name}: code cells {errors} stored an error"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_volatile_metadata_is_stripped(path: Path) -> None:
    nb = _read(path)
    assert tool("strip_metadata").stripped(nb) == nb, (
        f"{path.name}: run python notebooks/tools/strip_metadata.py {path.relative_to(ROOT)}"
    )


def test_navigation_is_up_to_date() -> None:
    stale = sorted(p.name for p in tool("add_navigation").updated(NOTEBOOKS))
    assert not stale, f"{stale}: run python notebooks/tools/add_navigation.py"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_nothing_star_imported_or_fetched(path: Path) -> None:
    for n, cell in enumerate(_code(_read(path)), 1):
        tree = _parse(cell.source)
        stars = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        ]
        assert not stars, f"{path.name} code cell {n}: `from {stars[0]} import *`"
        assert not FETCHING.search(cell.source), (
            f"{path.name} code cell {n}: fetches at run time; dependencies belong in"
            " pyproject.toml/environment.yml, data in datasets/"
        )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_title_and_skeleton(path: Path) -> None:
    texts = [t for t in _markdown(_read(path)) if not t.startswith(NAV_MARK)]
    assert texts and texts[0].startswith("# "), f"{path.name}: open with an H1 title"
    assert sum(t.startswith("# ") for t in texts) == 1, f"{path.name}: one idea, one H1"
    assert "You will learn" in texts[0], f"{path.name}: a 'You will learn' list under the title"
    assert any("## What to remember" in t for t in texts), f"{path.name}: no 'What to remember'"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_code_cell_budgets(path: Path) -> None:
    cells = _code(_read(path))
    sizes = [len(c.source.strip("\n").split("\n")) for c in cells]
    assert len(cells) <= MAX_CODE_CELLS, f"{path.name}: {len(cells)} code cells"
    long = {n: s for n, s in enumerate(sizes, 1) if s > MAX_CELL_LINES}
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} lines: {long}"
    median = statistics.median(sizes)
    assert median <= MAX_MEDIAN_LINES, f"{path.name}: median code cell is {median} lines"
    for n, cell in enumerate(cells, 1):
        for node in ast.walk(_parse(cell.source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                assert size <= MAX_DEF_LINES, (
                    f"{path.name} code cell {n}: {node.name} is {size} lines;"
                    " move it into the package"
                )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_randomness_is_seeded(path: Path) -> None:
    source = "\n".join(c.source for c in _code(_read(path)))
    if RANDOMNESS.search(source):
        assert re.search(r"^SEED = ", source, re.M), f"{path.name}: random without a SEED = line"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_ignored_outputs_are_few(path: Path) -> None:
    ignored = [c for c in _code(_read(path)) if "NBVAL_IGNORE_OUTPUT" in c.source]
    assert len(ignored) <= MAX_IGNORED_OUTPUT_CELLS, (
        f"{path.name}: {len(ignored)} cells ignore their output; make them deterministic"
    )


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_a_live_broker_is_stopped_in_the_same_notebook(path: Path) -> None:
    source = "\n".join(c.source for c in _code(_read(path)))
    starts = r"^(\w+) = (?:BackgroundBroker|lesson_broker)\(.*\)\.start\(\)"
    for started in re.finditer(starts, source, re.M):
        name = started.group(1)
        assert f"{name}.stop()" in source[started.end() :], (
            f"{path.name}: {name} is started and never stopped"
        )
    assert "1883" not in source, f"{path.name}: never use port 1883; let the broker pick one"
