"""handwriting.md: a model's nats per line / per point and SSE per point next to the paper's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from seqgen.io import atomic_write


def report(out_dir: Path, metrics: Mapping[str, float], label: str, paper: Sequence[tuple[str, float, float]]) -> dict[str, Any]:
    """Write `<out_dir>/handwriting.md` for a `label` (prediction, synthesis) model beside the
    paper's rows (name, nats per sequence, SSE per point); returns {"report": path}."""
    rows = ["| model | split | nats per line | nats per point | SSE per point |", "|---|---|---|---|---|"]
    for stage in ("val", "test"):
        if f"{stage}/nll" in metrics:
            rows.append(
                f"| this {label} model | {stage} | {metrics[f'{stage}/nll']:.1f} | "
                f"{metrics.get(f'{stage}/nll_per_point', float('nan')):.3f} | {metrics.get(f'{stage}/sse', float('nan')):.3f} |"
            )
    for name, nats, sse in paper:
        rows.append(f"| Graves 2013: {name} | IAM-OnDB valid | {nats} | | {sse} |")
    note = (
        "\nNats per line depend on the data: the paper's lines are IAM-OnDB (~700 points); other corpora "
        "(e.g. the synthetic Hershey lines) are not comparable.\n"
    )
    path = atomic_write(Path(out_dir) / "handwriting.md", "\n".join(rows) + "\n" + note)
    return {"report": str(path)}
