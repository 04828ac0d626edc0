"""Scenarios: whole simulated systems built from nodes, links and data in ``datasets/``.

* :mod:`.pipeline`: the 1999 pipeline (stations, a SCADA host, valve commands).
* :mod:`.telemetry`: what the pipeline's stations report, from the telemetry trace.
"""

from __future__ import annotations

from .pipeline import PipelineConfig, PipelineResult, run_pipeline

__all__ = ["PipelineConfig", "PipelineResult", "run_pipeline"]
