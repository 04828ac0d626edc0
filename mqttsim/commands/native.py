"""``mqttsim native build|status|clean``: compile the hot modules with mypyc.

``make`` runs ``build`` after installing the package. It needs mypy (the
``native`` extra) and a C compiler with Python's headers; without them it
says so in one line and everything keeps running as pure Python. What is
compiled, and when compiled modules are used, is :mod:`mqttsim.native`'s
business.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import native

__all__ = ["add_arguments", "build", "clean", "run"]

WORK_DIR = "build/native"  # mypyc's C files and objects, relative to the checkout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("build", "status", "clean"),
        help="build: compile in place; status: compiled or not, and why; clean: remove",
    )


def clean() -> int:
    """Delete the compiled modules and the manifest; return how many files went."""
    files = native.compiled_files()
    for path in files:
        path.unlink()
    return len(files)


def build(jobs: int = os.cpu_count() or 1) -> None:
    """Compile :data:`mqttsim.native.COMPILED` in place and write the manifest.

    Raises:
        ImportError: mypy (mypyc) or setuptools is not installed.
        RuntimeError: mypyc or the C compiler failed (their output says why).
    """
    from mypyc.build import mypycify
    from setuptools import Distribution  # type: ignore[import-untyped]
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    clean()
    root = native.PACKAGE_DIR.parent
    paths = [str(native.source(m).relative_to(root)) for m in native.COMPILED]
    digests = {m: native.digest(m) for m in native.COMPILED}  # read before compiling
    here = Path.cwd()
    os.chdir(root)  # mypyc names modules after paths relative to the working directory
    try:
        extensions = mypycify(
            paths,
            opt_level="3",
            group_name=native.GROUP,
            multi_file=True,  # several C files, compiled in parallel
            target_dir=WORK_DIR + "/c",  # kept: an unchanged C file is not compiled again
        )
        # A dotted group name puts the shared library's headers in a subfolder
        # its C files do not look in (mypy 1.x and 2.x).
        extensions[0].include_dirs.append(WORK_DIR + "/c/" + native.GROUP.rpartition(".")[0])
        distribution = Distribution({"name": "mqttsim", "ext_modules": extensions})
        distribution.verbose = 0  # not a line per gcc call; errors still show
        command = build_ext(distribution)
        command.inplace = True
        command.build_temp = WORK_DIR + "/o"
        command.parallel = jobs
        command.ensure_finalized()
        command.run()
    except (SystemExit, Exception) as exc:  # mypyc reports type errors by SystemExit
        clean()
        raise RuntimeError(f"mypyc failed ({exc})") from exc
    finally:
        os.chdir(here)
    manifest = {"cache_tag": sys.implementation.cache_tag, "modules": digests}
    native.MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    if args.action == "status":
        print(f"mqttsim: {native.status()}")
    elif args.action == "clean":
        print(f"mqttsim: removed {clean()} compiled files")
    else:
        try:
            build()
        except (ImportError, RuntimeError) as exc:
            print(f"mqttsim: not compiled; everything runs as pure Python: {exc}", file=sys.stderr)
            return 1
        print(f"mqttsim: compiled {len(native.COMPILED)} modules with mypyc")
    return 0
