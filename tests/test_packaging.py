"""The project's skeleton: dependency lists, the two make targets, a light `import mqttsim`.

README.md promises that `make lab` and `make test` work on a fresh machine, that
conda users get the same dependencies from environment.yml as pip users get from
pyproject.toml, and that importing the package costs nothing. These tests hold
the files to that promise.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
ENVIRONMENT = ROOT / "environment.yml"
MAKEFILE = ROOT / "Makefile"
CI_RUN = ROOT / ".ci" / "run"

# conda-forge names that differ from the PyPI name of the same package.
CONDA_TO_PYPI: dict[str, str] = {}
# Entries of environment.yml that are tooling, not dependencies of mqttsim.
CONDA_ONLY = {"python", "pip"}


# --- environment.yml, read by a parser just big enough for its format ------------------------


def _strip_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).rstrip()


def parse_environment(text: str) -> dict[str, object]:
    """Parse the subset of YAML that environment.yml uses.

    Top-level ``key: value`` pairs and ``key:`` followed by a list of ``- item``
    strings, where one item may itself be ``pip:`` followed by a deeper list.
    Anything else raises ValueError, so a new construct is noticed, not misread.
    """
    result: dict[str, object] = {}
    current: list[object] | None = None
    pip: list[str] | None = None
    pip_indent = -1
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if indent == 0:
            key, sep, value = body.partition(":")
            if not sep:
                raise ValueError(f"environment.yml:{number}: expected 'key:' in {raw!r}")
            pip = None
            if value.strip():
                result[key] = value.strip()
                current = None
            else:
                current = []
                result[key] = current
            continue
        if current is None or not body.startswith("- "):
            raise ValueError(f"environment.yml:{number}: unexpected line {raw!r}")
        item = body[2:].strip()
        if pip is not None and indent > pip_indent:
            pip.append(item)
        elif item.endswith(":"):
            pip = []
            pip_indent = indent
            current.append({item[:-1].strip(): pip})
        else:
            pip = None
            current.append(item)
    return result


def _environment() -> dict[str, object]:
    return parse_environment(ENVIRONMENT.read_text(encoding="utf-8"))


def _conda_requirement(spec: str) -> tuple[str, SpecifierSet]:
    """``name>=1.2`` / ``name=1.2`` / ``name 1.2.*`` as conda reads it, in PyPI terms."""
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", spec)
    assert match, f"environment.yml: cannot read the dependency {spec!r}"
    name, version = match.group(1), match.group(2).strip()
    if re.fullmatch(r"=[^=].*", version):  # conda's fuzzy "=1.2" means "1.2.*"
        version = f"=={version[1:].removesuffix('.*')}.*"
    elif version and version[0].isdigit():  # "name 1.2.*": an exact or glob version
        version = f"=={version}"
    name = CONDA_TO_PYPI.get(name, name)
    return canonicalize_name(name), SpecifierSet(version)


def environment_dependencies() -> dict[str, SpecifierSet]:
    """Every package environment.yml installs, conda and pip sections, by PyPI name."""
    deps: dict[str, SpecifierSet] = {}
    for entry in _environment()["dependencies"]:  # type: ignore[attr-defined]
        if isinstance(entry, dict):
            for line in entry.get("pip", []):
                if not line.startswith("-"):  # skip "-e .", "-r file"
                    req = Requirement(line)
                    deps[canonicalize_name(req.name)] = req.specifier
            continue
        name, specifier = _conda_requirement(entry)
        if name not in CONDA_ONLY:
            assert name not in deps, f"environment.yml lists {name} twice"
            deps[name] = specifier
    return deps


def pyproject_dependencies() -> dict[str, SpecifierSet]:
    """Runtime dependencies plus the test, native and cluster extras, by normalised name."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    lines = project["dependencies"] + extras["test"] + extras["native"] + extras["cluster"]
    deps: dict[str, SpecifierSet] = {}
    for line in lines:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in deps, f"pyproject.toml lists {name} twice"
        assert req.marker is None and not req.extras, (
            f"pyproject.toml: {line!r} has extras or a marker that environment.yml cannot mirror"
        )
        deps[name] = req.specifier
    return deps


def test_environment_and_pyproject_list_the_same_dependencies() -> None:
    conda, pip = environment_dependencies(), pyproject_dependencies()
    problems = [f"only in pyproject.toml: {n}{pip[n]}" for n in sorted(pip.keys() - conda.keys())]
    problems += [
        f"only in environment.yml: {n}{conda[n]}" for n in sorted(conda.keys() - pip.keys())
    ]
    problems += [
        f"{n}: pyproject.toml says {pip[n] or 'any'!s}, environment.yml says {conda[n] or 'any'!s}"
        for n in sorted(pip.keys() & conda.keys())
        if pip[n] != conda[n]
    ]
    assert not problems, "\n".join(problems)


def test_environment_installs_the_package_itself() -> None:
    pip_sections = [e["pip"] for e in _environment()["dependencies"] if isinstance(e, dict)]  # type: ignore[attr-defined]
    assert any("-e ." in section for section in pip_sections), (
        "environment.yml should install mqttsim itself with `pip: [-e .]`"
    )


def test_environment_python_satisfies_requires_python() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requires = SpecifierSet(project["requires-python"])
    entries = [e for e in _environment()["dependencies"] if isinstance(e, str)]  # type: ignore[attr-defined]
    pythons = [m.group(1) for e in entries if (m := re.fullmatch(r"python\W*([0-9.]+)\D*", e))]
    assert len(pythons) == 1, "environment.yml should pin the python version once"
    assert requires.contains(pythons[0]), f"python {pythons[0]} does not satisfy {requires}"


def test_hand_parser_agrees_with_pyyaml() -> None:
    yaml = pytest.importorskip(
        "yaml", reason="PyYAML is not installed; the hand parser stands alone"
    )
    text = ENVIRONMENT.read_text(encoding="utf-8")
    assert parse_environment(text) == yaml.safe_load(text)


# --- make lab, make test, .ci/run ------------------------------------------------------------


def _make_targets() -> dict[str, str]:
    """Map each Makefile target to its recipe text (the tab-indented lines after it)."""
    targets: dict[str, str] = {}
    current: str | None = None
    for line in MAKEFILE.read_text(encoding="utf-8").splitlines():
        rule = re.match(r"^([A-Za-z0-9_.$()/-]+)\s*:(?![:=])", line)
        if rule:
            current = rule.group(1)
            targets.setdefault(current, "")
        elif line.startswith("\t") and current is not None:
            targets[current] += line.strip() + "\n"
        elif line.strip() and not line.startswith("#"):
            current = None
    return targets


def test_make_test_runs_the_tests_and_the_notebooks() -> None:
    recipe = _make_targets().get("test")
    assert recipe is not None, "the Makefile has no `test` target"
    for word in ("pytest", "tests", "notebooks", "--nbval"):
        assert word in recipe, f"`make test` should run {word!r}; its recipe is:\n{recipe}"


def test_make_lab_opens_the_notebooks_in_jupyterlab() -> None:
    recipe = _make_targets().get("lab")
    assert recipe is not None, "the Makefile has no `lab` target"
    assert re.search(r"jupyter[ -]lab\b.*notebooks", recipe), f"`make lab` recipe:\n{recipe}"


@pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "jupyter").exists(), reason="no .venv with JupyterLab here"
)
def test_make_lab_opens_the_index_as_root_or_not_and_takes_lab_args(tmp_path: Path) -> None:
    # LAB_ARGS makes the "browser" echo, so the log shows the page JupyterLab opens.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lab_args = (
        f"--port {port} --ip 127.0.0.1"
        " --ServerApp.use_redirect_file=False --ServerApp.browser='echo OPEN %s'"
    )
    log = tmp_path / "lab.log"
    opened = ""
    with log.open("wb") as out:
        lab = subprocess.Popen(
            ["make", "lab", f"LAB_ARGS={lab_args}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60.0
            while not opened and lab.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)  # JupyterLab starting: poll the log it writes
                lines = log.read_text(errors="replace").splitlines()
                opened = next((line for line in lines if line.startswith("OPEN ")), "")
        finally:
            os.killpg(lab.pid, signal.SIGTERM)
            lab.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert opened.startswith(f"OPEN http://127.0.0.1:{port}/lab/tree/00-index.ipynb"), text[-2000:]
    assert ("--allow-root" in text) == (os.geteuid() == 0), text[:500]


def test_make_test_and_lab_are_phony() -> None:
    phony = " ".join(
        line.partition(":")[2]
        for line in MAKEFILE.read_text(encoding="utf-8").splitlines()
        if line.startswith(".PHONY")
    ).split()
    assert {"test", "lab"} <= set(phony), f".PHONY lists {phony}"


def test_ci_runs_make_test() -> None:
    text = CI_RUN.read_text(encoding="utf-8")
    commands = [_strip_comment(line).strip() for line in text.splitlines()]
    assert any(re.fullmatch(r"(exec\s+)?make\s+test\b.*", c) for c in commands), (
        ".ci/run should call `make test`, exactly what a developer runs"
    )
    assert os.access(CI_RUN, os.X_OK), ".ci/run must be executable"


# --- import mqttsim stays cheap --------------------------------------------------------------

HEAVY_MODULES = [
    "mqttsim.aio",
    "mqttsim.sim",
    "mqttsim.widgets",
    "asyncio",
    "simpy",
    "ipywidgets",
    "pandas",
    "numpy",
    "matplotlib",
]


def test_import_mqttsim_loads_nothing_heavy() -> None:
    code = "import json, sys, mqttsim; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    heavy = [name for name in HEAVY_MODULES if name in loaded]
    assert not heavy, f"`import mqttsim` imports {heavy}"


def test_mqttsim_has_a_version_matching_pyproject() -> None:
    import mqttsim

    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert mqttsim.__version__ == project["version"]
