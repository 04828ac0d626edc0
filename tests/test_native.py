"""The compiled modules (mqttsim.native): same results as the Python source, never stale.

``make`` compiles the protocol core and the network model with mypyc. These
tests hold the promises that makes: the compiled run gives the same results,
bit for bit, as the source; a compiled module older than its source is never
used; the tests that must patch compiled code still run, as Python; and in CI
(``MQTTSIM_REQUIRE_NATIVE=1``, set by ``.ci/run``) the build did happen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mqttsim import native

ROOT = Path(__file__).resolve().parent.parent

compiled_only = pytest.mark.skipif(
    not native.is_compiled(), reason=f"runs the compiled modules; {native.status()}"
)

# Loss, bursts, outages longer than TCP's give-up and QoS 2: every path of the model runs.
_SCENARIO = """
import hashlib, sys
from mqttsim import native
from mqttsim.sim import PipelineConfig, run_pipeline
config = PipelineConfig(
    stations=6, hours=3.0, qos=2, loss_rate=0.05, mean_burst_len=3.0,
    outages=((1800.0, 900.0),), seed=7,
)
result = run_pipeline(config)
digest = hashlib.sha256()
for frame in (result.messages, result.deliveries, result.commands, result.packets,
              result.events, result.summary()):
    digest.update(frame.to_csv(index=False).encode())
digest.update(repr(result.totals).encode())
print(native.status(), digest.hexdigest(), sep="\\n")
"""


def _python(code: str, *, pure: bool, cwd: Path = ROOT, path: Path = ROOT) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(path), "MQTTSIM_PURE": "1" if pure else ""}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_build_happened_where_it_is_required() -> None:
    if os.environ.get("MQTTSIM_REQUIRE_NATIVE") != "1":
        pytest.skip("MQTTSIM_REQUIRE_NATIVE=1 is not set (.ci/run sets it)")
    assert native.is_compiled(), native.status()


@compiled_only
def test_compiled_and_python_runs_give_identical_results() -> None:
    compiled_status, compiled = _python(_SCENARIO, pure=False)
    pure_status, pure = _python(_SCENARIO, pure=True)
    assert compiled_status == "compiled with mypyc"
    assert pure_status == "pure Python: MQTTSIM_PURE is set"
    assert compiled == pure


@compiled_only
def test_a_module_edited_after_the_build_runs_from_its_source(tmp_path: Path) -> None:
    shutil.copytree(native.PACKAGE_DIR, tmp_path / "mqttsim")
    probe = (
        "import mqttsim, mqttsim.sim.loss as loss, mqttsim.protocol.codec as codec\n"
        "print(mqttsim.native.status(), loss.__file__.endswith('.py'),"
        " codec.__file__.endswith('.py'), sep='\\n')"
    )
    run = {"pure": False, "cwd": tmp_path, "path": tmp_path}
    assert _python(probe, **run) == ["compiled with mypyc", "False", "False"]

    with (tmp_path / "mqttsim" / "sim" / "loss.py").open("a") as source:
        source.write("\n# edited after the build\n")
    status, loss_from_source, codec_from_source = _python(probe, **run)
    assert status == "pure Python: loss.py changed since it was compiled; rebuild"
    # All or nothing: compiled modules call each other without the import system.
    assert (loss_from_source, codec_from_source) == ("True", "True")


@compiled_only
def test_the_tests_that_patch_compiled_code_pass_as_python() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "pure_python", "-p", "no:cacheprovider"]
        + ["tests/protocol", "tests/sim"],
        cwd=ROOT,
        env={**os.environ, "MQTTSIM_PURE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "\n3 passed" in done.stdout, done.stdout[-3000:]


def test_frozen_dataclasses_pickle_and_copy_compiled_or_not() -> None:
    # mypyc's frozen dataclasses lose dataclasses' __setstate__; mqttsim.native puts it back.
    import copy
    import pickle

    from mqttsim.protocol import BrokerConfig
    from mqttsim.protocol.events import Subscribed
    from mqttsim.sim import TcpConfig

    subscribed = Subscribed(packet_id=3, reason_codes=())
    for value in (BrokerConfig(max_inflight=7), TcpConfig(mss_bytes=500), subscribed):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value
