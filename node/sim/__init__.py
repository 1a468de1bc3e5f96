"""Deterministic simulator driving the consensus core (issue 5, part 2).

First cut: a stub application (empty blocks), N replicas over a simulated
network in virtual time with a per-run seed, latency, drop and duplicate
rates, crash/restart keeping the sign state, Byzantine ``silent`` replicas,
a safety checker at every commit and a liveness check. The commerce executor,
the other Byzantine strategies, partitions and the CLI are still to come.
"""
from node.sim.core import SimConfig, SimReport, Simulation, run

__all__ = ["SimConfig", "SimReport", "Simulation", "run"]
