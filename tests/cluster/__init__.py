"""Cluster engines on one machine: a real SLURM (slurmctld, slurmd, munged), submitit, Ray.

A package (not a bare folder) so that its conftest.py does not shadow tests/conftest.py, which
the test modules import helpers from.
"""
