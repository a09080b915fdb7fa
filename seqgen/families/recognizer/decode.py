"""CTC decoding (Graves et al. 2006) and the character error rate.

The network emits, per frame t, log-probabilities y_t(k) over the blank (k = 0) and the
characters (k = 1..V). A path pi is mapped to a labelling by B: collapse repeats, drop blanks.

* Best path: pi* = argmax_k y_t(k) per frame, then B(pi*). Fast, exact for peaky outputs.
* Prefix beam search: keeps the `beam_width` most probable *labellings* (prefixes) l, each with
  the log-probabilities of ending in a blank, p_b(l), or in its last label, p_nb(l):

      p_b(l; t)      = (p_b(l; t-1) + p_nb(l; t-1)) * y_t(blank)
      p_nb(l; t)    += p_nb(l; t-1) * y_t(last(l))                 (repeat, no new label)
      p_nb(l+c; t)  += (p_b(l; t-1) + [c != last(l)] p_nb(l; t-1)) * y_t(c)

  and returns argmax_l p_b(l) + p_nb(l). Summing over paths makes it at least as good as the
  best path (equal when one path dominates).
* CER = sum of Levenshtein distances / sum of reference lengths (corpus level), computed with
  torchmetrics' `CharErrorRate` so training, `seqgen-eval` and the legibility measure agree.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torchmetrics.functional.text import char_error_rate

BLANK = 0


def best_path(log_probs: torch.Tensor, lengths: torch.Tensor | None = None, blank: int = BLANK) -> list[list[int]]:
    """(B, T, C) log-probabilities (+ valid frames per row) -> label ids per row (blank removed)."""
    ids = log_probs.argmax(-1)  # (B, T)
    keep = ids != blank
    keep[:, 1:] &= ids[:, 1:] != ids[:, :-1]  # collapse repeats
    if lengths is not None:
        keep &= torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
    ids, keep = ids.cpu(), keep.cpu()
    return [row[mask].tolist() for row, mask in zip(ids, keep)]


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def prefix_beam_search(
    log_probs: np.ndarray | torch.Tensor, beam_width: int = 8, blank: int = BLANK, prune: float = -12.0
) -> list[int]:
    """Most probable labelling of one sequence, (T, C) log-probabilities (see the module docstring).

    `prune`: labels with log y_t(c) below this are not tried at frame t (saves time on peaky
    outputs; -inf tries every label).
    """
    if isinstance(log_probs, torch.Tensor):
        log_probs = log_probs.detach().float().cpu().numpy()
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (log p_b, log p_nb)
    for frame in log_probs:
        candidates = np.nonzero(frame >= prune)[0].tolist()
        if not candidates:
            candidates = [int(frame.argmax())]
        nxt: dict[tuple[int, ...], list[float]] = {}

        def add(prefix: tuple[int, ...], pb: float, pnb: float) -> None:
            cur = nxt.setdefault(prefix, [-math.inf, -math.inf])
            cur[0] = _logsumexp(cur[0], pb)
            cur[1] = _logsumexp(cur[1], pnb)

        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            last = prefix[-1] if prefix else None
            for c in candidates:
                y = float(frame[c])
                if c == blank:
                    add(prefix, total + y, -math.inf)
                elif c == last:
                    add(prefix, -math.inf, pnb + y)  # repeat without a blank: same labelling
                    add(prefix + (c,), -math.inf, pb + y)  # blank in between: a new label
                else:
                    add(prefix + (c,), -math.inf, total + y)
        ranked = sorted(nxt.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)[:beam_width]
        beams = {prefix: (scores[0], scores[1]) for prefix, scores in ranked}
    best = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))
    return list(best[0])


def beam_search(
    log_probs: torch.Tensor, lengths: torch.Tensor | None = None, beam_width: int = 8, blank: int = BLANK
) -> list[list[int]]:
    """`prefix_beam_search` for every row of a (B, T, C) batch (each row cut to its length)."""
    arr = log_probs.detach().float().cpu().numpy()
    lens = lengths.tolist() if lengths is not None else [arr.shape[1]] * arr.shape[0]
    return [prefix_beam_search(row[: int(n)], beam_width, blank) for row, n in zip(arr, lens)]


def ids_to_text(ids: Sequence[int], vocab: Sequence[str]) -> str:
    """Label ids (1-based: 0 is the blank) -> text."""
    return "".join(vocab[i - 1] for i in ids if 0 < i <= len(vocab))


def cer(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus character error rate: total edit distance / total reference characters."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not references:
        return float("nan")
    return float(char_error_rate(list(hypotheses), list(references)))


def line_errors(hypothesis: str, reference: str) -> int:
    """Edit distance of one line (insertions + deletions + substitutions)."""
    if not reference:
        return len(hypothesis)
    return int(round(float(char_error_rate([hypothesis], [reference])) * len(reference)))


def ctc_min_frames(labels: Sequence[int]) -> int:
    """Fewest frames a CTC path for `labels` needs: one per label, plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(labels[:-1], labels[1:]) if a == b)
    return len(labels) + repeats
