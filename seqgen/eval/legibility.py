"""Legibility of generated handwriting, measured by a handwriting recogniser.

A shared evaluation layer: it knows no family. It takes two callables,

    write(texts, bias) -> lines        the generated lines (`Written`): `.offsets`, one (T, 3) array
                                       of raw-unit strokes per text (start row first), and `.ended`,
                                       True where the writer's end-of-text rule stopped the line
                                       (None where the writer cannot tell)
    read(lines) -> texts               what a recogniser reads in each line

and, for the texts of real lines (and optionally those real lines themselves), reports per bias b

    CER(b) = sum_i d(read(write(text_i, b)), text_i) / sum_i |text_i|      (d: edit distance)

next to CER_real = the recogniser's CER on the real lines of the same texts (the floor: the
recogniser's own error). A line *runs on* when the writer did not stop it by its end rule
(`ended` False: it hit its point limit) or the recognised text is longer than the reference by
more than max(1, tol |text|) characters; it *drops characters* when the recognised text is
shorter by more than that. The figures: `legibility.png` (CER against bias), `legibility.md`,
`legibility.json` (every line's transcription) and metrics `<prefix>/cer` (at `select_bias`),
`<prefix>/cer_bias<b>`, `<prefix>/cer_real`, `<prefix>/runon_bias<b>`, `<prefix>/dropped_bias<b>`.

This module knows no family, no model and no checkpoint. The handwriting family wires it to a
synthesis model and a recogniser run (`seqgen.families.handwriting.legibility`: `seqgen-eval
recognizer=`, and `model.recognizer=` during training).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.io import atomic_write, write_json

log = logging.getLogger(__name__)

DEFAULT_BIASES: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)


class Written(Protocol):
    """What a writer returns for a batch of texts (the handwriting family's `HandwritingSamples`)."""

    offsets: list[np.ndarray]
    ended: list[Optional[bool]]


WriteFn = Callable[[list[str], float], Written]
ReadFn = Callable[[list[np.ndarray]], list[str]]


@dataclass
class LegibilityResult:
    """CER per bias, on real lines, and run-on / dropped-character counts per bias."""

    texts: list[str]
    biases: list[float]
    cer: dict[float, float]
    runon: dict[float, int]
    dropped: dict[float, int]
    cer_real: Optional[float] = None
    lines: list[dict[str, Any]] = field(default_factory=list)  # every generated line: bias, text, read, ended
    real_reads: list[str] = field(default_factory=list)
    seconds: float = 0.0
    strokes: dict[float, list[np.ndarray]] = field(default_factory=dict)  # first `keep_strokes` lines per bias

    def metrics(self, prefix: str = "val", select_bias: float = 1.0) -> dict[str, float]:
        """Flat metrics for metrics.json / loggers; `<prefix>/cer` is the CER at the bias nearest `select_bias`."""
        out: dict[str, float] = {}
        for b in self.biases:
            out[f"{prefix}/cer_bias{b:g}"] = self.cer[b]
            out[f"{prefix}/runon_bias{b:g}"] = float(self.runon[b])
            out[f"{prefix}/dropped_bias{b:g}"] = float(self.dropped[b])
        chosen = min(self.biases, key=lambda b: abs(b - select_bias))
        out[f"{prefix}/cer"] = self.cer[chosen]
        if self.cer_real is not None:
            out[f"{prefix}/cer_real"] = self.cer_real
        out[f"{prefix}/legibility_lines"] = float(len(self.texts))
        return out


def _offsets_and_ended(written: Written, n: int) -> tuple[list[np.ndarray], list[Optional[bool]]]:
    offsets, ended = list(written.offsets), list(written.ended)
    if len(offsets) != n or len(ended) != n:
        raise SeqgenError(f"the writer returned {len(offsets)} lines for {n} texts")
    return [np.asarray(o, dtype=np.float32) for o in offsets], ended


def evaluate_legibility(
    write: WriteFn,
    read: ReadFn,
    texts: Sequence[str],
    biases: Iterable[float] = DEFAULT_BIASES,
    real_lines: Optional[Sequence[np.ndarray]] = None,
    length_tolerance: float = 0.2,
    keep_strokes: int = 6,
) -> LegibilityResult:
    """Write every text at every bias, read it back, and score it (see the module docstring)."""
    from torchmetrics.functional.text import char_error_rate

    texts = [str(t) for t in texts]
    biases = [float(b) for b in biases]
    if not texts:
        raise SeqgenError("legibility: no texts to write (the evaluation split is empty?)")
    if not biases or any(not math.isfinite(b) or b < 0 for b in biases):
        raise SeqgenError(f"biases={biases}: give one or more biases >= 0, e.g. [0, 0.5, 1, 2]")
    if real_lines is not None and len(real_lines) != len(texts):
        raise SeqgenError(f"legibility: {len(real_lines)} real lines for {len(texts)} texts")
    start = time.perf_counter()
    result = LegibilityResult(texts=texts, biases=biases, cer={}, runon={}, dropped={})
    for bias in biases:
        offsets, ended = _offsets_and_ended(write(list(texts), bias), len(texts))
        reads = read(offsets)
        result.cer[bias] = float(char_error_rate(reads, texts))
        runon = dropped = 0
        for text, got, stop, line in zip(texts, reads, ended, offsets):
            slack = max(1, round(length_tolerance * len(text)))
            is_runon = stop is False or len(got) - len(text) > slack
            is_dropped = len(text) - len(got) > slack
            runon += is_runon
            dropped += is_dropped
            result.lines.append(
                {"bias": bias, "text": text, "read": got, "ended": stop, "points": int(len(line) - 1),
                 "runon": bool(is_runon), "dropped": bool(is_dropped)}
            )
        result.runon[bias], result.dropped[bias] = runon, dropped
        result.strokes[bias] = offsets[:keep_strokes]
    if real_lines is not None:
        result.real_reads = read([np.asarray(o, dtype=np.float32) for o in real_lines])
        result.cer_real = float(char_error_rate(result.real_reads, texts))
    result.seconds = time.perf_counter() - start
    return result


def cer_bias_plot(result: LegibilityResult, path: str | Path, title: str = "Legibility of generated lines") -> Path:
    """CER of generated lines against bias, with the recogniser's CER on the real lines as a floor."""
    from matplotlib.figure import Figure

    from seqgen.render.plots import save_figure_atomic

    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    xs = result.biases
    ax.plot(xs, [100 * result.cer[b] for b in xs], "o-", label="generated lines")
    if result.cer_real is not None:
        ax.axhline(100 * result.cer_real, color="grey", linestyle="--", label="real lines (recogniser's own error)")
    ax.set_xlabel("sampling bias b")
    ax.set_ylabel("character error rate (%)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{title} ({len(result.texts)} texts)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure_atomic(fig, path)


def write_legibility(result: LegibilityResult, out_dir: str | Path, select_bias: float = 1.0) -> dict[str, str]:
    """legibility.png, legibility.md and legibility.json in `out_dir`; returns their paths."""
    out = Path(out_dir)
    rows = ["| bias | CER | lines running on | lines dropping characters |", "|---|---|---|---|"]
    for b in result.biases:
        rows.append(f"| {b:g} | {100 * result.cer[b]:.1f}% | {result.runon[b]} | {result.dropped[b]} |")
    if result.cer_real is not None:
        rows.append(f"| real lines | {100 * result.cer_real:.1f}% | | |")
    chosen = min(result.biases, key=lambda b: abs(b - select_bias))
    examples = [line for line in result.lines if line["bias"] == chosen][:8]
    rows += ["", f"Examples at bias {chosen:g}:", "", "| text | read | ended |", "|---|---|---|"]
    rows += [f"| `{e['text']}` | `{e['read']}` | {e['ended']} |" for e in examples]
    text = f"# Legibility ({len(result.texts)} texts, {result.seconds:.1f} s)\n\n" + "\n".join(rows) + "\n"
    files = {
        "legibility_plot": str(cer_bias_plot(result, out / "legibility.png")),
        "legibility_samples": str(samples_png(result, chosen, out / "legibility_samples.png")),
        "legibility_report": str(atomic_write(out / "legibility.md", text)),
        "legibility_lines": str(
            write_json(out / "legibility.json", {"cer": {f"{b:g}": v for b, v in result.cer.items()},
                                                 "cer_real": result.cer_real, "lines": result.lines,
                                                 "real_reads": result.real_reads})
        ),
    }
    return files


def samples_png(result: LegibilityResult, bias: float, path: str | Path) -> Path:
    """The first generated lines at `bias`, each labelled with its text, what was read and its CER."""
    from seqgen.render.strokes import side_by_side_png

    from torchmetrics.functional.text import char_error_rate

    lines = [line for line in result.lines if line["bias"] == bias]
    rows = []
    for line, strokes in zip(lines, result.strokes.get(bias, [])):
        rate = float(char_error_rate([line["read"]], [line["text"]]))
        rows.append((f"{line['text']!r} -> read {line['read']!r} (CER {100 * rate:.0f}%, bias {bias:g})", strokes))
    return side_by_side_png(rows, path)


def check_alphabet(writer_chars: Iterable[str], reader_chars: Iterable[str]) -> None:
    """The recogniser must know every character the generative model can write."""
    missing = sorted(set(writer_chars) - set(reader_chars))
    if missing:
        shown = ", ".join(repr(ch) for ch in missing)
        raise SeqgenError(
            f"the recogniser cannot read {len(missing)} character(s) the model writes: {shown}; "
            "train the recogniser on the same data as the model (seqgen-train experiment=recognizer_quickstart data=<same data>)"
        )
