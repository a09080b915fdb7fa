"""A toy family added by following docs/architecture.md ("Adding a family"), from outside seqgen:
counting sequences mod V, a GRU, sampling and a report beside the uniform baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from seqgen.core.family import Family
from seqgen.io import atomic_write

from toy_family.config import ToySampleOptions


class ToyFamily(Family):
    name = "toy"
    module_paths = ("toy_family.module:ToyModel",)
    sample_schema = ToySampleOptions

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from toy_family.generate import sample

        rows = sample(model, int(cfg.num_samples), self.sample_settings(cfg), int(cfg.seed))
        path = atomic_write(Path(out_dir) / "samples.json", json.dumps(rows.tolist()))
        return {"samples": str(path)}

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        uniform = math.log(model.vocab_size)  # the trivial baseline: every symbol equally likely
        text = f"test loss {metrics.get('test/loss', float('nan')):.4f} nats/symbol; uniform baseline {uniform:.4f}\n"
        return {"report": str(atomic_write(Path(out_dir) / "toy_report.md", text)), "uniform_nats": uniform}


FAMILY = ToyFamily()
