"""Replaying a real workload trace through burst in virtual time: what a policy would do
before a site runs it (`allot burst simulate`).

The jobs of an SWF trace arrive at their submit times; every `cycle_s` seconds of virtual
time the decision is taken by `demand.decide`, the agent's own function, on cloud views
built by `lifecycle.cloud_view` as the agent builds them, and the VMs' lives follow
`lifecycle`'s rules (boot and registration timeouts, back-off, idle retirement with
headroom). What the agent learns from engines is played here: a VM's boot and its
registration take times drawn from the cloud's distributions (clouds.yaml, seeded), and
the simulator is the batch system: a job starts on a registered VM with room as soon as
there is one (best fit), and a VM's time is charged to the projects whose jobs used it
(charging.shares), as the agent charges it.

The parts: `config` (clouds.yaml), `trace` (the SWF reader), `simulator` (the virtual-time
loop), `stats` (what a run counts and its summary), `plot` (SVG or PNG) and `runs` (runs
stored for the web pages). Callers import from here.
"""

from __future__ import annotations

from pathlib import Path

from .config import Config, ConfigError, SimCloud, load_config, parse_config
from .plot import svg_plot, write_plot
from .runs import simulation_run, simulation_runs, store
from .simulator import Simulator
from .stats import Summary
from .trace import Trace, read_swf

__all__ = [
    "Config",
    "ConfigError",
    "SimCloud",
    "Simulator",
    "Summary",
    "Trace",
    "load_config",
    "parse_config",
    "read_swf",
    "simulate",
    "simulation_run",
    "simulation_runs",
    "store",
    "svg_plot",
    "write_plot",
]


def simulate(trace_path: str | Path, clouds_path: str | Path, start: str | None = None,
             end: str | None = None, speedup: float = 1.0) -> Summary:  # fmt: skip
    """Replay the trace's jobs (submitted in [start, end)) on the clouds of clouds.yaml."""
    config = load_config(clouds_path)
    trace = read_swf(trace_path, start, end, speedup)
    return Simulator(config, trace).run()
