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
recogniser's own error).

Best-of-N (`best_of`): the writer writes every text N times in one batch and the line kept is the
one whose reading is closest to the text (fewest edits d), ties going to the higher model
log-likelihood (`choose_best`):

    keep_i = argmin_{j < N} ( d(read(line_ij), text_i), -log p(line_ij | text_i) )

The selection reads with the same recogniser as the measure, so CER of best-of-N > 1 is an
optimistic figure for what a different reader would see; the cost is N lines written and read
per line kept (`seconds_per_line`). A line *runs on* when the writer did not stop it by its end rule
(`ended` False: it hit its point limit) or the recognised text is longer than the reference by
more than max(1, tol |text|) characters; it *drops characters* when the recognised text is
shorter by more than that. The figures: `legibility.png` (CER against bias), `legibility.md`,
`legibility.json` (every line's transcription) and metrics `<prefix>/cer` (at `select_bias`),
`<prefix>/cer_bias<b>`, `<prefix>/cer_real`, `<prefix>/runon_bias<b>`, `<prefix>/dropped_bias<b>`.

This module knows no family, no model and no checkpoint. The handwriting family wires it to a
synthesis model and a recogniser run (its `legibility` module: `seqgen-eval recognizer=`, and
`model.recognizer=` during training).
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
BestOfWriteFn = Callable[[list[str], float, int], Written]


def choose_best(texts: Sequence[str], reads: Sequence[str], scores: Sequence[float], n: int) -> list[int]:
    """For text i, the row among i*n .. i*n + n - 1 whose reading has the fewest edits from the
    text, ties to the higher score (the model's log-likelihood of the line)."""
    from torchmetrics.functional.text import edit_distance

    if len(reads) != n * len(texts) or len(scores) != len(reads):
        raise SeqgenError(f"best-of-{n}: {len(reads)} readings and {len(scores)} scores for {len(texts)} texts")
    edits = edit_distance(list(reads), [t for t in texts for _ in range(n)], reduction="none").tolist()
    return [min(range(i * n, (i + 1) * n), key=lambda r: (edits[r], -float(scores[r]))) for i in range(len(texts))]


@dataclass
class LegibilityResult:
    """CER per bias, on real lines, and run-on / dropped-character counts per bias (best-of-1);
    `rows`: one entry per (bias, best_of) with cer, runon, dropped and seconds_per_line."""

    texts: list[str]
    biases: list[float]
    cer: dict[float, float]
    runon: dict[float, int]
    dropped: dict[float, int]
    cer_real: Optional[float] = None
    lines: list[dict[str, Any]] = field(default_factory=list)  # every generated line: bias, best_of, text, read, ended
    real_reads: list[str] = field(default_factory=list)
    seconds: float = 0.0
    strokes: dict[float, list[np.ndarray]] = field(default_factory=dict)  # first `keep_strokes` lines per bias
    rows: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self, prefix: str = "val", select_bias: float = 1.0) -> dict[str, float]:
        """Flat metrics for metrics.json / loggers; `<prefix>/cer` is the CER at the bias nearest
        `select_bias` (best-of-1); best-of-N rows end in `_best<N>`."""
        out: dict[str, float] = {}
        for row in self.rows:
            tag = f"bias{row['bias']:g}" + (f"_best{row['best_of']}" if row["best_of"] > 1 else "")
            out[f"{prefix}/cer_{tag}"] = row["cer"]
            out[f"{prefix}/runon_{tag}"] = float(row["runon"])
            out[f"{prefix}/dropped_{tag}"] = float(row["dropped"])
            out[f"{prefix}/seconds_per_line_{tag}"] = row["seconds_per_line"]
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


def _score(result: LegibilityResult, write: Callable[..., Written], read: ReadFn, bias: float, best_of: int, tolerance: float) -> list[np.ndarray]:
    """Write every text at `bias` (best of `best_of`), read it back, add a row and the lines to `result`."""
    from torchmetrics.functional.text import char_error_rate

    texts = result.texts
    start = time.perf_counter()
    written = write(list(texts), bias) if best_of == 1 else write(list(texts), bias, best_of)
    offsets, ended = _offsets_and_ended(written, len(texts))
    reads = read(offsets)
    row = {"bias": bias, "best_of": best_of, "cer": float(char_error_rate(reads, texts)), "runon": 0, "dropped": 0}
    for text, got, stop, line in zip(texts, reads, ended, offsets):
        slack = max(1, round(tolerance * len(text)))
        is_runon = stop is False or len(got) - len(text) > slack
        is_dropped = len(text) - len(got) > slack
        row["runon"] += is_runon
        row["dropped"] += is_dropped
        result.lines.append(
            {"bias": bias, "best_of": best_of, "text": text, "read": got, "ended": stop, "points": int(len(line) - 1),
             "runon": bool(is_runon), "dropped": bool(is_dropped)}
        )
    row["seconds_per_line"] = (time.perf_counter() - start) / len(texts)
    result.rows.append(row)
    return offsets


def evaluate_legibility(
    write: WriteFn | BestOfWriteFn,
    read: ReadFn,
    texts: Sequence[str],
    biases: Iterable[float] = DEFAULT_BIASES,
    real_lines: Optional[Sequence[np.ndarray]] = None,
    length_tolerance: float = 0.2,
    keep_strokes: int = 6,
    best_of: Iterable[int] = (1,),
) -> LegibilityResult:
    """Write every text at every bias (and best-of-N: `write(texts, bias, n)`), read it back, and
    score it (see the module docstring)."""
    from torchmetrics.functional.text import char_error_rate

    texts = [str(t) for t in texts]
    biases = [float(b) for b in biases]
    counts = sorted({int(n) for n in best_of})
    if not texts:
        raise SeqgenError("legibility: no texts to write (the evaluation split is empty?)")
    if not biases or any(not math.isfinite(b) or b < 0 for b in biases):
        raise SeqgenError(f"biases={biases}: give one or more biases >= 0, e.g. [0, 0.5, 1, 2]")
    if not counts or counts[0] < 1:
        raise SeqgenError(f"best_of={counts}: give one or more numbers of candidates >= 1, e.g. [1, 4]")
    if real_lines is not None and len(real_lines) != len(texts):
        raise SeqgenError(f"legibility: {len(real_lines)} real lines for {len(texts)} texts")
    start = time.perf_counter()
    result = LegibilityResult(texts=texts, biases=biases, cer={}, runon={}, dropped={})
    for bias in biases:
        for n in counts:
            offsets = _score(result, write, read, bias, n, length_tolerance)
            if n == counts[0]:
                result.strokes[bias] = offsets[:keep_strokes]
                row = result.rows[-1]
                result.cer[bias], result.runon[bias], result.dropped[bias] = row["cer"], row["runon"], row["dropped"]
    if real_lines is not None:
        result.real_reads = read([np.asarray(o, dtype=np.float32) for o in real_lines])
        result.cer_real = float(char_error_rate(result.real_reads, texts))
    result.seconds = time.perf_counter() - start
    return result


def cer_bias_plot(result: LegibilityResult, path: str | Path, title: str = "Legibility of generated lines") -> Path:
    """CER of generated lines against bias, with the recogniser's CER on the real lines as a floor."""
    from seqgen.render.plots import error_by_bias_plot

    floors = [] if result.cer_real is None else [(result.cer_real, "real lines (recogniser's own error)", "grey", "--")]
    xs = result.biases
    return error_by_bias_plot(xs, [result.cer[b] for b in xs], "generated lines", floors, "character error rate (%)",
                              f"{title} ({len(result.texts)} texts)", path)


def write_legibility(result: LegibilityResult, out_dir: str | Path, select_bias: float = 1.0) -> dict[str, str]:
    """legibility.png, legibility.md and legibility.json in `out_dir`; returns their paths."""
    out = Path(out_dir)
    rows = ["| bias | best_of | CER | lines running on | lines dropping characters | seconds per line |", "|---|---|---|---|---|---|"]
    for r in result.rows:
        rows.append(f"| {r['bias']:g} | {r['best_of']} | {100 * r['cer']:.1f}% | {r['runon']} | {r['dropped']} | {r['seconds_per_line']:.2f} |")
    if result.cer_real is not None:
        rows.append(f"| real lines | | {100 * result.cer_real:.1f}% | | | |")
    chosen = min(result.biases, key=lambda b: abs(b - select_bias))
    examples = [line for line in result.lines if line["bias"] == chosen and line["best_of"] == result.rows[0]["best_of"]][:8]
    rows += ["", f"Examples at bias {chosen:g}:", "", "| text | read | ended |", "|---|---|---|"]
    rows += [f"| `{e['text']}` | `{e['read']}` | {e['ended']} |" for e in examples]
    text = f"# Legibility ({len(result.texts)} texts, {result.seconds:.1f} s)\n\n" + "\n".join(rows) + "\n"
    files = {
        "legibility_plot": str(cer_bias_plot(result, out / "legibility.png")),
        "legibility_samples": str(samples_png(result, chosen, out / "legibility_samples.png")),
        "legibility_report": str(atomic_write(out / "legibility.md", text)),
        "legibility_lines": str(
            write_json(out / "legibility.json", {"cer": {f"{b:g}": v for b, v in result.cer.items()}, "rows": result.rows,
                                                 "cer_real": result.cer_real, "lines": result.lines,
                                                 "real_reads": result.real_reads})
        ),
    }
    return files


def samples_png(result: LegibilityResult, bias: float, path: str | Path) -> Path:
    """The first generated lines at `bias`, each labelled with its text, what was read and its CER."""
    from seqgen.render.strokes import side_by_side_png

    from torchmetrics.functional.text import char_error_rate

    lines = [line for line in result.lines if line["bias"] == bias and line["best_of"] == result.rows[0]["best_of"]]
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
