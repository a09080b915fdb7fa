"""Best-of-N writing and the model's likelihood of written lines.

`write_best_of` writes every text N times in one batch (rows i*N .. i*N + N - 1, seeds differ by
row), the recogniser reads all N x texts lines, and `seqgen.eval.legibility.choose_best` keeps per
text the line read closest to it, ties to the higher log-likelihood

    log p(x | c) = sum_t log Pr(x_{t+1} | x_{1:t}, c)        (teacher-forced, the training loss's terms)

of the line under the unbiased model (`line_log_likelihood`), so among equally legible candidates
the most typical one wins. `line_batch` turns raw-unit lines with their texts into the training
batch format (also used to adapt the network to a writer, `personalise.py`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from seqgen.core.config import ConfigValueError, show_value
from seqgen.data.handwriting.batch import HandwritingBatch, collate_lines
from seqgen.errors import SeqgenError
from seqgen.eval.legibility import choose_best
from seqgen.families.handwriting.config import check_candidates
from seqgen.families.handwriting.generate import HandwritingSamples, Prime, write
from seqgen.nn.mdn import mixture_nll

ReadFn = Callable[[list[np.ndarray]], list[str]]


def line_batch(model: Any, lines: Sequence[np.ndarray], texts: Sequence[str], normalised: bool = False) -> HandwritingBatch:
    """Lines (each (T, 3), start row first; raw units unless `normalised`) and their texts -> a batch."""
    index = {ch: i for i, ch in enumerate(model.vocab)}
    items = []
    for line, text in zip(lines, texts):
        offsets = np.asarray(line, dtype=np.float32) if normalised else model.norm.apply(np.asarray(line, dtype=np.float32))
        items.append({"offsets": torch.from_numpy(np.ascontiguousarray(offsets)), "text": text, "writer": "",
                      "chars": torch.tensor([index[ch] for ch in text], dtype=torch.long)})
    return collate_lines(items).to(model.device)


@torch.no_grad()
def line_log_likelihood(model: Any, lines: Sequence[np.ndarray], texts: Sequence[str]) -> list[float]:
    """log p(line | text) in nats under the (unbiased) synthesis model, one per line."""
    if not lines:
        return []
    was_training = model.training
    model.eval()
    try:
        batch = line_batch(model, lines, texts)
        nll = mixture_nll(model.run_network(batch), batch.targets, batch.target_mask, reduction="none")
        return (-(nll * batch.target_mask).sum(1)).double().cpu().tolist()
    finally:
        model.train(was_training)


def check_best_of(best_of: Any, reader: Optional[ReadFn]) -> int:
    """`best_of` as a number of candidates (`check_candidates`); more than one needs a recogniser."""
    try:
        best_of = check_candidates(best_of)
    except ConfigValueError as err:
        raise SeqgenError(f"best_of={show_value(best_of)} is out of range: must be {err.valid}") from None
    if best_of > 1 and reader is None:
        raise SeqgenError(f"best_of={int(best_of)} keeps the candidate a recogniser reads best: give recognizer=<recogniser run>")
    return int(best_of)


def best_of_counts(value: Any) -> list[int]:
    """`best_of=4` or `best_of=[1,4]` -> [4] / [1, 4] (null: [1])."""
    if value is None:
        return [1]
    values = list(value) if not isinstance(value, (int, float, str)) else [value]
    return [check_best_of(v, lambda lines: []) for v in values]


def select_rows(samples: HandwritingSamples, rows: Sequence[int]) -> HandwritingSamples:
    """The chosen rows of `samples`, in order."""
    pick = lambda values: [values[r] for r in rows] if values else []  # noqa: E731
    return HandwritingSamples(
        offsets=pick(samples.offsets), texts=pick(samples.texts), phis=pick(samples.phis), ended=pick(samples.ended),
        params=pick(samples.params), kappas=pick(samples.kappas), reads=pick(samples.reads), log_likelihood=pick(samples.log_likelihood),
    )


def write_best_of(
    model: Any,
    texts: list[str],
    best_of: int,
    reader: Optional[ReadFn],
    bias: float = 0.0,
    prime: Optional[Prime] = None,
    max_points: Optional[int] = None,
    unknown_chars: str = "error",
    seed: int = 0,
    keep_params: bool = False,
    on_step: Any = None,
) -> HandwritingSamples:
    """`write`, keeping for every text the best of `best_of` candidates written in one batch (module
    docstring); with best_of=1 it is `write`. The result's `reads` are the recogniser's readings."""
    n = check_best_of(best_of, reader)
    if n == 1:
        samples = write(model, texts, bias, prime, max_points, unknown_chars, seed, keep_params, on_step)
        if reader is not None:
            samples.reads = reader(samples.offsets)
        return samples
    rows = [t for t in texts for _ in range(n)]
    samples = write(model, rows, bias, prime, max_points, unknown_chars, seed, keep_params, on_step)
    samples.reads = reader(samples.offsets)  # type: ignore[misc]
    samples.log_likelihood = line_log_likelihood(model, samples.offsets, samples.texts)
    return select_rows(samples, choose_best(samples.texts[::n], samples.reads, samples.log_likelihood, n))
