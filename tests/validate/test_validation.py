"""The CI subset of the validation: the simulator against real stacks, on the robust figures.

Root only (network namespaces, TUN devices); skipped in one line otherwise.
Three short cases (``mqttsim.validate.cases.ci_subset``) run on the real
stack through the link emulator and in the simulator with the same seed;
the figures that do not depend on the machine's timing must agree within
their tolerance: messages delivered, duplicates, median latency, and the
bytes per message of mqttsim's stack on the clean link. The timing-sensitive
figures (p95, p99) and the paho/mosquitto bytes are compared in
``docs/validation.md``, not asserted here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mqttsim.validate.cases import ci_subset
from mqttsim.validate.netns import EmulatorError, check_environment
from mqttsim.validate.run import validate

if os.geteuid() != 0:
    pytest.skip("the link emulator needs root", allow_module_level=True)
try:
    check_environment()
except EmulatorError as exc:
    pytest.skip(str(exc), allow_module_level=True)

ROBUST = ("delivered", "duplicates", "latency_p50_s")


@pytest.mark.timeout(600)
def test_the_ci_subset_agrees_with_real_stacks_on_its_robust_figures(tmp_path: Path) -> None:
    cases = ci_subset()
    if shutil.which("mosquitto") is None:
        cases = [c for c in cases if c.stack == "mqttsim"]
    table = validate(cases, seeds=1, workdir=tmp_path, say=lambda _line: None)
    assert set(table["case"]) == {c.name for c in cases}
    clean_bytes = (table["figure"] == "ip_bytes_per_message") & table["case"].str.startswith(
        "clean, beside, QoS 1, mqttsim"
    )
    robust = table[table["figure"].isin(ROBUST) | clean_bytes]
    misses = robust[~robust["within"]]
    assert misses.empty, "\n" + misses.to_string()
    delivered = table[table["figure"] == "delivered"]
    assert (delivered["real"] == 20).all()  # nothing lost on the way, in either world
