"""Console entry points (thin Hydra apps).

OpenMP reads its wait policy once, when torch loads it: it is set here, before any entry point
imports torch (seqgen/training/threads.py says why).
"""

from seqgen.training.threads import quiet_openmp_waits

quiet_openmp_waits()
