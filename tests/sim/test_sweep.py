"""Sweeps: a grid of pipeline runs on any executor, returned as one DataFrame."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pandas as pd
import pytest

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.scenario import Scenario
from mqttsim.sim.scenarios.pipeline import PipelineConfig, run_pipeline
from mqttsim.sim.sweep import SerialExecutor, sweep, sweep_configs

BASE = PipelineConfig(stations=2, hours=0.2, drain_s=300.0, record_packets=False, seed=5)


def test_grid_times_replications_in_grid_order_with_seeds_per_replication() -> None:
    runs = sweep_configs({"qos": [0, 1], "loss_rate": [0.0, 0.02]}, base=BASE, replications=2)
    assert [(p["qos"], p["loss_rate"], r, c.seed) for p, r, c in runs] == [
        (q, loss, r, 5 + r) for q in (0, 1) for loss in (0.0, 0.02) for r in (0, 1)
    ]
    assert all(c.qos == p["qos"] and c.stations == 2 for p, _, c in runs)


def test_sweep_on_a_thread_pool_matches_single_runs() -> None:
    seen: list[tuple[int, int]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        table = sweep(
            {"qos": [0, 2]},
            base=BASE,
            replications=2,
            executor=pool,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert table[["qos", "replication", "seed"]].values.tolist() == [
        [0, 0, 5],
        [0, 1, 6],
        [2, 0, 5],
        [2, 1, 6],
    ]
    assert {"delivery_ratio", "latency_p99_s", "link_bytes", "cost_usd", "wall_s"} <= set(table)
    single = run_pipeline(
        PipelineConfig(stations=2, hours=0.2, drain_s=300.0, record_packets=False, qos=2, seed=6)
    ).summary()
    row = table[(table.qos == 2) & (table.replication == 1)].drop(
        columns=["replication", "seed", "wall_s"]
    )
    pd.testing.assert_frame_equal(row.reset_index(drop=True), single, check_dtype=False)


def test_sweep_runs_on_a_process_pool_by_default() -> None:
    table = sweep({"qos": [1]}, base=BASE, replications=2)
    assert table["seed"].tolist() == [5, 6]
    assert (table["delivery_ratio"] > 0.9).all()


def test_sweep_refuses_unknown_keys_and_empty_lists() -> None:
    with pytest.raises(ConfigError, match="cannot sweep 'loss'; allowed: stations, hours"):
        sweep_configs({"loss": [0.1]}, base=BASE)
    with pytest.raises(ConfigError, match="non-empty list"):
        sweep_configs({"qos": []}, base=BASE)
    with pytest.raises(ConfigError, match="qos must be 0, 1 or 2"):
        sweep_configs({"qos": [3]}, base=BASE)
    with pytest.raises(ConfigError, match="replications"):
        sweep_configs({"qos": [1]}, base=BASE, replications=0)


# -- any scenario, any executor -------------------------------------------------------------------


def _station() -> Scenario:
    net = Scenario("station", duration_s=600, drain_s=60, seed=100)
    net.link("field", "hub", "geo-vsat", name="field")
    net.broker("broker", site="hub")
    net.client("rtu", site="field", profile="paho-2")
    net.client("scada", site="hub", subscribe="plant/#")
    net.poisson("rtu", "plant/p", rate_per_s=0.2)
    return net


def test_a_scenario_sweep_varies_dotted_keys_and_seeds_the_replications() -> None:
    table = sweep(
        {"qos": [0, 2], "link.loss_rate": [0.0, 0.05]},
        base=_station(),
        replications=2,
        executor=SerialExecutor(),
    )
    assert table[["qos", "link.loss_rate", "seed"]].values.tolist() == [
        [q, loss, 100 + r] for q in (0, 2) for loss in (0.0, 0.05) for r in (0, 1)
    ]
    single = _station().with_values({"qos": 2, "link.loss_rate": 0.05}).run(seed=101).summary()
    row = table[(table.qos == 2) & (table["link.loss_rate"] == 0.05) & (table.replication == 1)]
    pd.testing.assert_frame_equal(
        row.drop(columns=["link.loss_rate", "replication", "seed", "wall_s"]).reset_index(
            drop=True
        ),
        single,
        check_dtype=False,
    )
    with pytest.raises(ConfigError, match="cannot sweep 'seed'"):
        sweep({"seed": [1, 2]}, base=_station())
    with pytest.raises(ConfigError, match="link.colour"):
        sweep({"link.colour": ["red"]}, base=_station())


def test_a_scenario_sweep_on_a_process_pool_equals_the_serial_one() -> None:
    grid = {"client.rtu.profile": ["mqttsim", "paho-2"]}
    serial = sweep(grid, base=_station(), replications=2, executor=SerialExecutor())
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sweep(grid, base=_station(), replications=2, executor=pool)
    pd.testing.assert_frame_equal(serial.drop(columns="wall_s"), pooled.drop(columns="wall_s"))


def test_twenty_seeded_runs_on_a_dask_local_cluster_equal_the_serial_sweep() -> None:
    distributed = pytest.importorskip("distributed")
    serial = sweep({"qos": [1]}, base=_station(), replications=20, executor=SerialExecutor())
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = sweep(
            {"qos": [1]}, base=_station(), replications=20, executor=client.get_executor()
        )
    assert len(serial) == 20 and serial["seed"].tolist() == list(range(100, 120))
    assert serial["delivered"].nunique() > 1  # twenty different draws, not one run twenty times
    pd.testing.assert_frame_equal(serial.drop(columns="wall_s"), on_dask.drop(columns="wall_s"))
