"""recognizer.md: the recogniser's CER and a few transcriptions of real test lines (best path and beam)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.errors import SeqgenError
from seqgen.families.recognizer.decode import cer
from seqgen.io import atomic_write, write_json


def report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float], n_examples: int = 8) -> dict[str, Any]:
    out_dir = Path(out_dir)
    rows = ["| split | CER (best path) |", "|---|---|"]
    for stage in ("val", "test"):
        if f"{stage}/cer" in metrics:
            rows.append(f"| {stage} | {100 * metrics[f'{stage}/cer']:.2f}% |")
    extra: dict[str, Any] = {}
    examples: list[dict[str, str]] = []
    try:
        lines = datamodule.read_lines("test", n_examples)
    except (SeqgenError, OSError, AttributeError):
        lines = []
    if lines:
        norm = datamodule.norm
        raw = [norm.invert(line["offsets"].numpy()) for line in lines]
        refs = [line["text"] for line in lines]
        greedy, beam = model.read(raw, "greedy"), model.read(raw, "beam")
        extra["examples_cer_greedy"] = cer(greedy, refs)
        extra["examples_cer_beam"] = cer(beam, refs)
        rows += ["", f"Test lines 1-{len(lines)}: CER best path {100 * extra['examples_cer_greedy']:.1f}%, "
                 f"beam (width {model.hparams.beam_width}) {100 * extra['examples_cer_beam']:.1f}%", "",
                 "| reference | best path | beam |", "|---|---|---|"]
        for ref, g, b in zip(refs, greedy, beam):
            examples.append({"reference": ref, "best_path": g, "beam": b})
            rows.append(f"| `{ref}` | `{g}` | `{b}` |")
    path = atomic_write(out_dir / "recognizer.md", "# Handwriting recogniser\n\n" + "\n".join(rows) + "\n")
    write_json(out_dir / "recognizer_examples.json", examples)
    return {"report": str(path), **extra}
