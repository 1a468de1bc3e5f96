"""Deterministic simulator: N real replicas (consensus core +
commerce application over in-memory storage) in virtual time. See
node/sim/core.py for the theory of operation and docs/simulation.md."""
from node.sim.byzantine import STRATEGIES
from node.sim.core import FAULTS, PARTITIONS, SimConfig, SimReport, Simulation, run

__all__ = ["FAULTS", "PARTITIONS", "STRATEGIES", "SimConfig", "SimReport", "Simulation", "run"]
