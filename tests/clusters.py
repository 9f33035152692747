"""The test cluster: a real Valkey Cluster on loopback, now in `ivr.devtools.clusters` so
that benchmarks can start one without importing the tests."""

from ivr.devtools.clusters import Cluster, Node

__all__ = ["Cluster", "Node"]
