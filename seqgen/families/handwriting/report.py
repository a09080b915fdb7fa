"""handwriting.md: a model's nats per line / per point and SSE per point next to the paper's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.io import atomic_write

# The paper's validation numbers (Tables 3 and 4): nats per sequence, SSE per point.
PAPER = {
    "prediction": [("1 layer", -1025.7, 0.40), ("3 layer", -1041.0, 0.41), ("3 layer + adaptive weight noise", -1057.7, 0.41)],
    "synthesis": [("synthesis", -1096.9, 0.23), ("synthesis + adaptive weight noise", -1128.2, 0.23)],
}


def report(model: Any, out_dir: Path, metrics: Mapping[str, float]) -> dict[str, Any]:
    """Write `<out_dir>/handwriting.md`; returns {"report": path}."""
    rows = ["| model | split | nats per line | nats per point | SSE per point |", "|---|---|---|---|---|"]
    for stage in ("val", "test"):
        if f"{stage}/nll" in metrics:
            rows.append(
                f"| this {model.kind} model | {stage} | {metrics[f'{stage}/nll']:.1f} | "
                f"{metrics.get(f'{stage}/nll_per_point', float('nan')):.3f} | {metrics.get(f'{stage}/sse', float('nan')):.3f} |"
            )
    for name, nats, sse in PAPER[model.kind]:
        rows.append(f"| Graves 2013: {name} | IAM-OnDB valid | {nats} | | {sse} |")
    note = (
        "\nNats per line depend on the data: the paper's lines are IAM-OnDB (~700 points); other corpora "
        "(e.g. the synthetic Hershey lines) are not comparable.\n"
    )
    path = atomic_write(Path(out_dir) / "handwriting.md", "\n".join(rows) + "\n" + note)
    return {"report": str(path)}
