"""recognizer.md: the recogniser's error rate and a few transcriptions of real test sequences
(best path and beam): lines of handwriting (CER) or utterances of speech (PER, as scored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.errors import SeqgenError
from seqgen.families.recognizer.module import PhonemeRecognizer
from seqgen.io import atomic_write, write_json


def real_examples(model: Any, datamodule: Any, n: int) -> tuple[list[Any], list[str]]:
    """(raw inputs `model.read` takes, reference transcriptions) of the first `n` test sequences."""
    if isinstance(model, PhonemeRecognizer):
        utterances = datamodule.read_utterances("test", n)
        raw = [u["frames"].numpy() * model.std + model.mean for u in utterances]
        return raw, [model.ids_to_text(u["symbols"].tolist()) for u in utterances]
    lines = datamodule.read_lines("test", n)
    return [datamodule.norm.invert(line["offsets"].numpy()) for line in lines], [line["text"] for line in lines]


def report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float], n_examples: int = 8) -> dict[str, Any]:
    out_dir = Path(out_dir)
    name, unit = model.metric.upper(), ("utterances" if isinstance(model, PhonemeRecognizer) else "lines")
    rows = [f"| split | {name} (best path) |", "|---|---|"]
    for stage in ("val", "test"):
        if f"{stage}/{model.metric}" in metrics:
            rows.append(f"| {stage} | {100 * metrics[f'{stage}/{model.metric}']:.2f}% |")
    extra: dict[str, Any] = {}
    examples: list[dict[str, str]] = []
    try:
        raw, refs = real_examples(model, datamodule, n_examples)
    except (SeqgenError, OSError, AttributeError):
        raw, refs = [], []
    if refs:
        greedy, beam = model.read(raw, "greedy"), model.read(raw, "beam")
        extra[f"examples_{model.metric}_greedy"] = model.error_rate(greedy, refs)
        extra[f"examples_{model.metric}_beam"] = model.error_rate(beam, refs)
        rows += ["", f"Test {unit} 1-{len(refs)}: {name} best path {100 * extra[f'examples_{model.metric}_greedy']:.1f}%, "
                 f"beam (width {model.hparams.beam_width}) {100 * extra[f'examples_{model.metric}_beam']:.1f}%", "",
                 "| reference | best path | beam |", "|---|---|---|"]
        for ref, g, b in zip(refs, greedy, beam):
            examples.append({"reference": ref, "best_path": g, "beam": b})
            rows.append(f"| `{ref}` | `{g}` | `{b}` |")
    title = "Phoneme recogniser" if isinstance(model, PhonemeRecognizer) else "Handwriting recogniser"
    path = atomic_write(out_dir / "recognizer.md", f"# {title}\n\n" + "\n".join(rows) + "\n")
    write_json(out_dir / "recognizer_examples.json", examples)
    return {"report": str(path), **extra}
