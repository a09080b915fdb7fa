"""Hyperparameter sweeps with Ray Tune over the Hydra train config (see docs/cluster.md)."""

from seqgen.sweep.spec import load_definition, param_space, register_sweeps, validate

__all__ = ["load_definition", "param_space", "register_sweeps", "validate"]
