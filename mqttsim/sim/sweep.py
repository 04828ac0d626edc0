"""Parameter sweeps: a grid of pipeline runs on any ``concurrent.futures.Executor``.

Every combination of the grid's values is run ``replications`` times;
replication ``r`` uses the seed ``base.seed + r`` at every point of the
grid, so points are compared under the same random draws (common random
numbers: the same outages and the same loss sequence where the traffic
allows). Runs are independent, so they spread over any executor: a process
pool by default (one worker per core), a thread pool for tiny grids, or a
Dask cluster beyond one machine::

    from dask.distributed import Client
    from mqttsim.sim import PipelineConfig, sweep

    client = Client("scheduler-address:8786")  # or Client() for a local cluster
    table = sweep(
        {"qos": [0, 1, 2], "loss_rate": [0.0, 0.01, 0.05]},
        base=PipelineConfig(stations=50, hours=6, record_packets=False),
        replications=10,
        executor=client.get_executor(),
    )
    table.groupby(["qos", "loss_rate"])["latency_p99_s"].mean()

The result is one DataFrame, one row per run (a run has one QoS), in grid
order whatever order the runs finish in: the grid's columns, then
``replication``, ``seed`` and ``wall_s``, then the columns of
:func:`mqttsim.sim.metrics.summarize`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from mqttsim.protocol.errors import ConfigError

from .scenarios.pipeline import PipelineConfig, run_pipeline

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["sweep", "sweep_configs"]


def sweep_configs(
    grid: Mapping[str, Sequence[Any]], *, base: PipelineConfig, replications: int = 1
) -> list[tuple[dict[str, Any], int, PipelineConfig]]:
    """The runs of a sweep, in order: ``(grid point, replication, config)``.

    Raises:
        ConfigError: a grid key that is not a :class:`PipelineConfig` field
            (the message lists them), an empty list of values, fewer than one
            replication, or a value the config refuses.
    """
    allowed = [f.name for f in fields(PipelineConfig)]
    for key, values in grid.items():
        if key not in allowed or key == "seed":
            raise ConfigError(
                f"cannot sweep {key!r}; allowed: {', '.join(a for a in allowed if a != 'seed')}"
            )
        if isinstance(values, str | bytes) or not len(values):
            raise ConfigError(f"grid[{key!r}] must be a non-empty list of values")
    if replications < 1:
        raise ConfigError(f"replications must be at least 1, got {replications!r}")
    keys = list(grid)
    runs = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        for rep in range(replications):
            runs.append((point, rep, replace(base, seed=base.seed + rep, **point)))
    return runs


def _run_one(config: PipelineConfig) -> tuple[float, list[dict[str, Any]]]:
    """One run in a worker: its wall time and its summary rows (small to send back)."""
    result = run_pipeline(config)
    return result.wall_s, result.summary().to_dict("records")


def sweep(
    grid: Mapping[str, Sequence[Any]],
    *,
    base: PipelineConfig | None = None,
    replications: int = 1,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run a grid of pipeline scenarios and return their summaries as one DataFrame.

    Args:
        grid: :class:`PipelineConfig` field -> the values to try, e.g.
            ``{"qos": [0, 1, 2], "loss_rate": [0.0, 0.02]}``.
        base: the settings not in the grid; default ``PipelineConfig(
            record_packets=False)`` (summaries need no packet log).
        replications: runs per grid point, with seeds ``base.seed + r``.
        executor: where the runs go; a ``ProcessPoolExecutor`` with one worker
            per core, shut down afterwards, if None. Its workers must be able
            to import mqttsim.
        progress: called as ``progress(done, total)`` after each run returns.

    Returns:
        One row per run: the grid's columns, replication, seed, wall_s, and
        the summary's columns (see the module docstring).

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
        futures = [pool.submit(_run_one, config) for _, _, config in runs]
        for done, ((point, rep, config), future) in enumerate(
            zip(runs, futures, strict=True), start=1
        ):
            wall, summary = future.result()
            for row in summary:
                rows.append(
                    {**point, "replication": rep, "seed": config.seed, "wall_s": wall, **row}
                )
            if progress is not None:
                progress(done, len(runs))
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    return pd.DataFrame(rows)
