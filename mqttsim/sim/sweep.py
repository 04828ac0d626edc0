"""Parameter sweeps: a grid of runs of any scenario on any ``concurrent.futures.Executor``.

Every combination of the grid's values is run ``replications`` times;
replication ``r`` uses the seed ``base seed + r`` at every point of the
grid, so points are compared under the same random draws (common random
numbers: the same outages and the same loss sequence where the traffic
allows). Runs are independent and deterministic, so they spread over any
executor and give the same table whatever runs them: :class:`SerialExecutor`
(in this process, one after the other), a process pool (the default: one
worker per core), or a Dask cluster beyond one machine::

    from dask.distributed import Client
    from mqttsim.sim import load_scenario, sweep

    client = Client("scheduler-address:8786")  # or Client(LocalCluster()) on this machine
    table = sweep(
        {"qos": [0, 1, 2], "link.loss_rate": [0.0, 0.01, 0.05]},
        base=load_scenario("datasets/scenarios/geo-station.toml"),
        replications=10,
        executor=client.get_executor(),
    )
    table.groupby(["qos", "link.loss_rate"])["latency_p99_s"].mean()

The workers need mqttsim installed (``pip install mqttsim[cluster]`` on
each); a scenario whose processes are functions of your own needs them
importable there too (Dask's pickling carries functions defined in a
notebook; a process pool's does not).

``base`` is a :class:`~mqttsim.sim.Scenario` (grid keys are the dotted keys
of :mod:`mqttsim.sim.variants`, e.g. ``"link.loss_rate"``) or a
:class:`~mqttsim.sim.PipelineConfig` (grid keys are its fields, e.g.
``"loss_rate"``). The result is one DataFrame, one row per run and QoS, in
grid order whatever order the runs finish in: the grid's columns, then
``replication``, ``seed`` and ``wall_s``, then the columns of
:func:`mqttsim.sim.metrics.summarize`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from mqttsim.protocol.errors import ConfigError

from .scenario import Scenario
from .scenarios.pipeline import PipelineConfig, run_pipeline

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["SerialExecutor", "sweep", "sweep_configs"]

Base = PipelineConfig | Scenario


class SerialExecutor(Executor):
    """Runs each task at once, in the caller's process: the serial reference."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


def sweep_configs(
    grid: Mapping[str, Sequence[Any]], *, base: Base, replications: int = 1
) -> list[tuple[dict[str, Any], int, Any]]:
    """The runs of a sweep, in order: ``(grid point, replication, what to run)``.

    What to run is a :class:`PipelineConfig`, or a :class:`Scenario` with
    its seed set.

    Raises:
        ConfigError: a grid key that cannot be swept (the message lists
            what can), an empty list of values, fewer than one replication,
            or a value the scenario refuses.
    """
    if isinstance(base, PipelineConfig):
        allowed = [f.name for f in fields(PipelineConfig) if f.name != "seed"]
        for key in grid:
            if key not in allowed:
                raise ConfigError(f"cannot sweep {key!r}; allowed: {', '.join(allowed)}")
    elif "seed" in grid:
        raise ConfigError("cannot sweep 'seed': replications set the seeds")
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not len(values):
            raise ConfigError(f"grid[{key!r}] must be a non-empty list of values")
    if replications < 1:
        raise ConfigError(f"replications must be at least 1, got {replications!r}")
    keys = list(grid)
    runs: list[tuple[dict[str, Any], int, Any]] = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        for rep in range(replications):
            if isinstance(base, PipelineConfig):
                runs.append((point, rep, replace(base, seed=base.seed + rep, **point)))
            else:
                runs.append((point, rep, base.with_values({**point, "seed": base.seed + rep})))
    return runs


def _run_one(run: Any) -> tuple[int, float, list[dict[str, Any]]]:
    """One run in a worker: its seed, wall time and summary rows (small to send back)."""
    result = run_pipeline(run) if isinstance(run, PipelineConfig) else run.run()
    return run.seed, result.wall_s, result.summary().to_dict("records")


def sweep(
    grid: Mapping[str, Sequence[Any]],
    *,
    base: Base | None = None,
    replications: int = 1,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run a grid of scenarios and return their summaries as one DataFrame.

    Args:
        grid: key -> the values to try, e.g. ``{"qos": [0, 1, 2],
            "link.loss_rate": [0.0, 0.02]}`` (see the module docstring).
        base: the scenario (or pipeline configuration) the grid varies;
            default ``PipelineConfig(record_packets=False)``.
        replications: runs per grid point, with seeds ``base seed + r``.
        executor: where the runs go; a ``ProcessPoolExecutor`` with one worker
            per core, shut down afterwards, if None.
        progress: called as ``progress(done, total)`` after each run returns.

    Returns:
        One row per run and QoS: the grid's columns, replication, seed,
        wall_s, and the summary's columns.

    Raises:
        ConfigError: see :func:`sweep_configs`.
    """
    import pandas as pd

    base = base if base is not None else PipelineConfig(record_packets=False)
    runs = sweep_configs(grid, base=base, replications=replications)
    own = executor is None
    pool = ProcessPoolExecutor() if executor is None else executor
    rows: list[dict[str, Any]] = []
    try:
        futures = [pool.submit(_run_one, run) for _, _, run in runs]
        for done, ((point, rep, _), future) in enumerate(zip(runs, futures, strict=True), start=1):
            seed, wall, summary = future.result()
            for row in summary:
                rows.append({**point, "replication": rep, "seed": seed, "wall_s": wall, **row})
            if progress is not None:
                progress(done, len(runs))
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    return pd.DataFrame(rows)
