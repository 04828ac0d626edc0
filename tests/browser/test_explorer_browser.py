"""A person's view of lesson 10: JupyterLab serves it, Chromium runs it, a control moves, Run.

The story, in a real browser: open ``10-qos-trade-off-explorer.ipynb``, Run
All from the menu, wait for the explorer to show its table, type a bad outage
(the error appears beside the field and Run greys out), type a 15-minute
outage instead, press Run, and read the new table from the page: QoS 0 now
loses readings, QoS 1 and 2 do not. A screenshot of the explorer is saved in
the test's tmp dir; with ``MQTTSIM_SCREENSHOT=path`` it is also copied there
(that is how ``notebooks/images/qos-explorer.png`` is made for the README).

Every wait has a timeout; the fixtures in ``conftest.py`` start and stop the
server and the browser.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import JupyterLab

NOTEBOOK = "10-qos-trade-off-explorer.ipynb"
SCREENSHOT_ENV = "MQTTSIM_SCREENSHOT"
KERNEL_S = 90_000  # ms: the kernel starts once the notebook is open
RUN_ALL_S = 120_000  # ms: every cell of the lesson, three of them simulations
RERUN_S = 60_000  # ms: one press of Run on the default scenario
# The cells of the explorer's table, row by row, as the page shows them.
READ_TABLE = (
    "table => Array.from(table.querySelectorAll('tr'))"
    ".map(tr => Array.from(tr.children).map(cell => cell.innerText.trim()))"
)


def shown(table: Any) -> dict[str, dict[str, float]]:
    """The results as displayed: {"QoS 0": {"delivery ratio": 1.0, ...}, ...}."""
    rows: list[list[str]] = table.evaluate(READ_TABLE)
    body = [row for row in rows if row and row[0].startswith("QoS ")]
    header = next(row for row in rows if "delivery ratio" in row)
    columns = header[-(len(body[0]) - 1) :]
    return {row[0]: dict(zip(columns, map(float, row[1:]), strict=True)) for row in body}


@contextlib.contextmanager
def diagnostics(page: Any, server: JupyterLab, folder: Path) -> Iterator[None]:
    """On a failure, keep a picture of the page and say what the server logged."""
    try:
        yield
    except (Exception, pytest.fail.Exception) as exc:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / "failure.png"), full_page=True)
        raise AssertionError(
            f"{exc}\n(page: {folder / 'failure.png'})\nJupyterLab log:\n{server.tail()}"
        ) from exc


@pytest.mark.timeout(420)
def test_the_explorer_runs_in_jupyterlab_and_answers_a_change(
    jupyter_lab: JupyterLab, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with diagnostics(page, jupyter_lab, tmp_path):
        page.goto(jupyter_lab.lab_url(NOTEBOOK), wait_until="domcontentloaded")
        jupyter_lab.wait_for_kernel(
            NOTEBOOK, KERNEL_S / 1000, pause=lambda s: page.wait_for_timeout(s * 1000)
        )
        idle = page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")
        idle.wait_for(timeout=KERNEL_S)

        # Run > Run All Cells, as a learner does.
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()

        explorer = page.locator(".mqttsim-qos-explorer")
        table = explorer.locator(".mqttsim-results table")
        table.wait_for(state="attached", timeout=RUN_ALL_S)
        explorer.scroll_into_view_if_needed()
        expect(table).to_be_visible()
        before = shown(table)
        assert list(before) == ["QoS 0", "QoS 1", "QoS 2"]
        assert [row["delivery ratio"] for row in before.values()] == [1.0, 1.0, 1.0]
        status = explorer.locator(".mqttsim-status")
        expect(status).to_contain_text("vsat-1999 · 4 stations · 2 h · seed 1999")

        # A bad outage is refused where it is typed.
        outages = explorer.locator(".mqttsim-outages input")
        run = explorer.locator("button.mqttsim-run")
        error = explorer.locator(".mqttsim-outage-error")
        outages.fill("1800-900")
        expect(error).to_contain_text("write START_S:DURATION_S")
        expect(run).to_be_disabled()

        # A 15-minute outage, longer than TCP keeps resending; then Run.
        outages.fill("1800:900")
        expect(error).to_have_text("")
        expect(run).to_be_enabled()
        text_before = table.inner_text()
        run.click()
        expect(table).not_to_have_text(text_before, timeout=RERUN_S)
        expect(status).to_contain_text("outages 1800:900", timeout=RERUN_S)
        expect(explorer.locator(".mqttsim-progress .progress-bar")).to_have_attribute(
            "style", re.compile(r"\bwidth: 100%")
        )

        after = shown(table)
        assert after["QoS 0"]["delivery ratio"] < 1.0 and after["QoS 0"]["lost"] > 0
        assert after["QoS 1"]["delivery ratio"] == after["QoS 2"]["delivery ratio"] == 1.0
        assert after["QoS 2"]["duplicates"] == 0
        assert after["QoS 1"]["max (s)"] > before["QoS 1"]["max (s)"]

        picture = tmp_path / "qos-explorer.png"
        explorer.screenshot(path=str(picture))
        assert picture.read_bytes().startswith(b"\x89PNG")
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, target)


def test_a_missing_browser_skips_here_and_fails_where_it_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from . import conftest

    monkeypatch.setattr(conftest, "CHROMIUM", "/nonexistent/chromium")
    reason = conftest.missing_browser()
    assert reason == "/nonexistent/chromium is not installed (apt-get install chromium)"
    monkeypatch.delenv(conftest.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="is not installed"):
        conftest._skip_or_fail(reason)
    monkeypatch.setenv(conftest.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="MQTTSIM_REQUIRE_BROWSER=1 but"):
        conftest._skip_or_fail(reason)
