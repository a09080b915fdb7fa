"""Evaluation of the speech family: NLL per frame, MCD-DTW, duration ratio, alignment monotonicity.

Mel-cepstral distortion after dynamic time warping (generated and real utterances differ in
length): with mel cepstra c (natural-log amplitude, `Features.mel_cepstrum`) and c_0 excluded,

    MCD = (10 sqrt(2) / ln 10) * (1 / |P|) sum_{(i, j) in P} sqrt( sum_{d=1}^{D} (c_i,d - c'_j,d)^2 )

where P is the DTW path minimising the summed Euclidean distance (steps (1,0), (0,1), (1,1)).
Duration ratio: generated frames / real frames for the same symbols and speaker. Monotonicity:
the share of consecutive generated frames whose most-attended symbol (argmax_u phi(t, u)) does
not move backwards (1.0 = a perfectly monotonic alignment).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from seqgen.families.speech.features import mcd_constant

log = logging.getLogger(__name__)


def dtw_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost monotone path through `cost` (N, M) from (0, 0) to (N-1, M-1)."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row, prev, c = acc[i], acc[i - 1], cost[i - 1]
        diag_up = np.minimum(prev[:-1], prev[1:]) + c  # from (i-1, j-1) or (i-1, j): vectorised
        for j in range(1, m + 1):  # from (i, j-1): the truly sequential part
            row[j] = min(diag_up[j - 1], row[j - 1] + c[j - 1])
    path = [(n - 1, m - 1)]
    i, j = n, m
    while (i, j) != (1, 1):
        options = [(acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1)]
        _, i, j = min(o for o in options if o[1] >= 1 and o[2] >= 1)
        path.append((i - 1, j - 1))
    return path[::-1]


def mcd_dtw(ceps_generated: np.ndarray, ceps_real: np.ndarray) -> float:
    """MCD in dB between two mel-cepstrum sequences (T, 1 + D): c_0 (column 0) excluded, DTW-aligned."""
    a, b = np.asarray(ceps_generated, np.float64)[:, 1:], np.asarray(ceps_real, np.float64)[:, 1:]
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    path = dtw_path(cost)
    return float(mcd_constant() * np.mean([cost[i, j] for i, j in path]))


def monotonicity(phi: np.ndarray) -> float:
    """Share of steps t where argmax_u phi(t, u) >= argmax_u phi(t-1, u)."""
    if len(phi) < 2:
        return 1.0
    focus = np.asarray(phi).argmax(axis=1)
    return float(np.mean(np.diff(focus) >= 0))


def evaluate_generation(model: Any, datamodule: Any, split: str = "test", limit: int = 8, bias: float = 1.0, n_ceps: int = 13) -> dict[str, float]:
    """Generate `limit` utterances of `split` (their symbols, their speakers); compare with the real ones."""
    from seqgen.families.speech.features import Features
    from seqgen.families.speech.generate import synthesise

    utterances = datamodule.read_utterances(split, limit)
    if not utterances:
        return {}
    table, features = model.table, Features(model.spec)
    symbols = [[table.symbols[int(i) - 1] for i in u["symbols"]] for u in utterances]
    # frame cap: 3x the longest real utterance (a window that never ends costs no more than that)
    cap = 3 * max(len(u["frames"]) for u in utterances)
    samples = synthesise(model, symbols, [u["speaker_name"] for u in utterances], bias=bias, seed=0, max_frames=cap)
    mcds, ratios, monos, finished = [], [], [], []
    for utt, sample in zip(utterances, samples):
        real = model.denormalise(utt["frames"].numpy())
        gen = model.denormalise(sample.frames)
        if len(gen) == 0:
            continue
        mcds.append(mcd_dtw(features.mel_cepstrum(gen, n_ceps), features.mel_cepstrum(real, n_ceps)))
        ratios.append(len(gen) / max(len(real), 1))
        monos.append(monotonicity(sample.phi))
        finished.append(float(sample.finished))
    if not mcds:
        return {}
    return {
        f"{split}/mcd_dtw": float(np.mean(mcds)),
        f"{split}/duration_ratio": float(np.mean(ratios)),
        f"{split}/alignment_monotonicity": float(np.mean(monos)),
        f"{split}/finished_share": float(np.mean(finished)),
        f"{split}/generated_utterances": float(len(mcds)),
    }


def report(model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float], limit: int = 8, bias: float = 1.0) -> dict[str, Any]:
    """speech.md + extra metrics.json entries: NLL per frame, MCD-DTW, duration ratio, monotonicity."""
    from seqgen.io import atomic_write

    out = dict(evaluate_generation(model, datamodule, "test", limit, bias))
    rows = ["| split | NLL (nats/frame) | NLL (nats/dim) | MCD-DTW (dB) | duration ratio gen/real | alignment monotonicity | finished |",
            "|---|---|---|---|---|---|---|"]
    merged = {**dict(metrics), **out}
    for stage in ("val", "test"):
        if f"{stage}/nll" not in merged and f"{stage}/mcd_dtw" not in merged:
            continue
        cells = [merged.get(f"{stage}/{k}") for k in ("nll", "nll_per_dim", "mcd_dtw", "duration_ratio", "alignment_monotonicity", "finished_share")]
        rows.append(f"| {stage} | " + " | ".join("" if v is None else f"{v:.3f}" for v in cells) + " |")
    note = (
        f"\nMCD-DTW: {int(out.get('test/generated_utterances', 0))} test utterances generated with bias {bias} from their own "
        f"symbols and speaker, c_0 excluded, 10 sqrt(2)/ln 10 constant. Features: {model.spec.kind}, "
        f"{model.spec.dim} dims, {1000 * model.spec.frame_seconds:.1f} ms frames; units: {model.table.units}.\n"
    )
    path = atomic_write(Path(out_dir) / "speech.md", "\n".join(rows) + "\n" + note)
    out["report"] = str(path)
    return out
