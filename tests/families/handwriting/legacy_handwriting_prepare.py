"""The in-memory handwriting `prepare` as it was before streaming (commit e2e00ce), kept verbatim as
the reference that the streamed `prepare_handwriting` must reproduce byte for byte (the corpora's
former `load_splits` methods are the functions `_hershey_splits` / `_iam_splits` here, and its
last step, writing meta.json and printing the report, is `finish`)."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from seqgen.families.handwriting.iam import SkipReport
from seqgen.families.handwriting.prepare import (
    LINE_SCALE_FACTOR,
    OUTLIER_SCALE,
    SPLITS,
    TOO_LONG,
    TOO_SHORT,
    UNKNOWN_CHARS,
    HersheyCorpus,
    IamOnDbCorpus,
    PrepareReport,
)
from seqgen.data.handwriting.strokes import Line, NormStats, median_step
from seqgen.data.shards import ShardWriter, encode_array, write_meta
from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)


def load_splits(corpus: Any, report: SkipReport) -> dict[str, list[Line]]:
    if isinstance(corpus, HersheyCorpus):
        return _hershey_splits(corpus, report)
    if isinstance(corpus, IamOnDbCorpus):
        return _iam_splits(corpus, report)
    return corpus.load_splits(report)  # a test corpus


def _hershey_splits(self, report: SkipReport) -> dict[str, list[Line]]:
    from seqgen.families.handwriting.hershey import DEFAULT_FONTS, DEFAULT_POINTS_PER_CHAR, iter_hershey_lines, sample_writers

    fonts = self.fonts or DEFAULT_FONTS
    texts = self.texts()
    points = self.points_per_char or DEFAULT_POINTS_PER_CHAR
    writers = [w.name for w in sample_writers(self.n_writers, self.seed, fonts, points_per_char=points)]
    held_out = set(writers[len(writers) - self.holdout_writers :]) if self.holdout_writers else set()
    rng = random.Random(f"split/{self.seed}")
    frac_train, frac_valid, _ = self.split
    splits: dict[str, list[Line]] = {s: [] for s in SPLITS}
    # texts are filtered to characters every font can write, so rendering cannot fail
    for line in iter_hershey_lines(texts, self.n_writers, self.seed, fonts, points_per_char=points):
        r = rng.random()
        if line.writer in held_out:
            splits["valid" if r < 0.5 else "test"].append(line)
        elif r < frac_train:
            splits["train"].append(line)
        elif r < frac_train + frac_valid:
            splits["valid"].append(line)
        else:
            splits["test"].append(line)
    return splits


def _iam_read(self, split_ids: set[str] | None, report: SkipReport) -> list[Line]:
    from seqgen.families.handwriting.iam import DEFAULT_MAX_STEP, iter_iam_lines

    return list(iter_iam_lines(self.root, split_ids, self.max_step or DEFAULT_MAX_STEP, report=report))


def _iam_splits(self, report: SkipReport) -> dict[str, list[Line]]:
    from seqgen.families.handwriting.iam import read_split_ids

    lists = self.lists or self.PRESETS.get(self.split)
    if lists is None:  # random split by form
        lines = _iam_read(self, None, report)
        forms = sorted({line.line_id.rsplit("-", 1)[0] for line in lines})
        random.Random(self.seed).shuffle(forms)
        a, b, _ = self.fractions
        cut1, cut2 = round(len(forms) * a), round(len(forms) * (a + b))
        where = {f: ("train" if i < cut1 else "valid" if i < cut2 else "test") for i, f in enumerate(forms)}
        splits: dict[str, list[Line]] = {s: [] for s in SPLITS}
        for line in lines:
            splits[where[line.line_id.rsplit("-", 1)[0]]].append(line)
        return splits
    cache: dict[tuple[str, ...], list[Line]] = {}
    splits = {}
    for split in SPLITS:
        names = tuple(lists.get(split) or ())
        if not names:
            raise SeqgenError(f"IAM-OnDB: no split lists given for '{split}'")
        if names not in cache:
            ids: set[str] = set()
            for name in names:
                ids |= read_split_ids(self.root, name)
            cache[names] = _iam_read(self, ids, report)
        splits[split] = cache[names]
    return splits


def drop_scale_outliers(splits: dict[str, list[Line]], report: SkipReport) -> float:
    """Skip lines whose scale is wildly off the corpus's (per line; the reader checks per point).

    The corpus scale M is the median over all lines of each line's median pen-down step. A line is
    skipped (counted, named) when its own median step is more than LINE_SCALE_FACTOR times above
    or below M, or when one of its moves is longer than NormStats.ROBUST_FACTOR * M. Returns M.
    """
    steps = {id(line): median_step(line.offsets) for split in SPLITS for line in splits.get(split, [])}
    positive = [m for m in steps.values() if m > 0 and np.isfinite(m)]
    if not positive:
        return 1.0
    scale = float(np.median(positive))
    bound = NormStats.ROBUST_FACTOR * scale
    for split in SPLITS:
        kept = []
        for line in splits.get(split, []):
            m = steps[id(line)]
            name = line.line_id or line.text[:30]
            with np.errstate(invalid="ignore"):
                longest = float(np.nanmax(np.abs(line.offsets[1:, :2]))) if len(line.offsets) > 1 else 0.0
            if not np.isfinite(longest) or longest > bound:
                report.add(OUTLIER_SCALE, name, f"a move of {longest:.3g} units (corpus median step {scale:.3g})")
            elif m > 0 and not (scale / LINE_SCALE_FACTOR <= m <= scale * LINE_SCALE_FACTOR):
                report.add(OUTLIER_SCALE, name, f"median step {m:.3g} vs the corpus's {scale:.3g}")
            else:
                kept.append(line)
        splits[split] = kept
    return scale


def build_vocab(lines: Iterable[Line]) -> list[str]:
    """Every character of the training transcriptions, sorted by code point (nothing dropped)."""
    chars: set[str] = set()
    for line in lines:
        chars.update(line.text)
    if not chars:
        raise SeqgenError("the training transcriptions are empty: no character vocabulary")
    return sorted(chars)


def _choose_styles(lines: list[Line], norm: NormStats, n: int, seed: int) -> list[dict[str, Any]]:
    """A few training lines of distinct writers (medium length), normalised: primes for sampling."""
    rng = random.Random(f"styles/{seed}")
    by_writer: dict[str, Line] = {}
    lengths = sorted(len(line.text) for line in lines)
    lo, hi = lengths[len(lengths) // 4], lengths[(3 * len(lengths)) // 4]
    candidates = [line for line in lines if lo <= len(line.text) <= hi] or list(lines)
    rng.shuffle(candidates)
    for line in candidates:
        if line.writer not in by_writer:
            by_writer[line.writer] = line
        if len(by_writer) >= n:
            break
    styles = []
    for writer in sorted(by_writer):
        line = by_writer[writer]
        offsets = np.round(norm.apply(line.offsets).astype(np.float64), 4)
        styles.append({"writer": writer, "text": line.text, "offsets": offsets.tolist()})
    return styles


def _sample(key: str, offsets: np.ndarray, ids: np.ndarray, line: Line) -> dict[str, bytes]:
    return {
        "__key__": key,
        "offsets.npy": encode_array(offsets.astype(np.float32)),
        "chars.npy": encode_array(ids.astype(np.int16)),
        "text.txt": line.text.encode("utf-8"),
        "writer.txt": line.writer.encode("utf-8"),
    }


def prepare_handwriting_in_memory(
    corpus: Any,
    out_dir: str,
    samples_per_shard: int = 64,
    min_train_shards: int = 8,
    min_points: int = 10,
    max_points: int | None = None,
    n_styles: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Write train/valid/test shards and meta.json for a handwriting corpus; returns the summary.

    Lines with fewer than `min_points` or (if set) more than `max_points` points are skipped; so
    are valid/test lines with a character that the training transcriptions lack (the model could
    not be conditioned on it). Every skip is counted, named in meta.json and logged.
    """
    out = Path(out_dir)
    report = PrepareReport()
    splits = load_splits(corpus, report)
    for split in SPLITS:
        kept = []
        for line in splits.get(split, []):
            if line.n_points < min_points:
                report.add(TOO_SHORT, line.line_id or line.text[:30], f"{line.n_points} points")
            elif max_points is not None and line.n_points > max_points:
                report.add(TOO_LONG, line.line_id or line.text[:30], f"{line.n_points} > max_points={max_points}")
            else:
                kept.append(line)
        splits[split] = kept
    drop_scale_outliers(splits, report)
    if not splits.get("train"):
        raise SeqgenError(f"no training lines left in corpus '{corpus.name}': check the corpus settings ({report.summary()})")
    chars = build_vocab(splits["train"])
    index = {ch: i for i, ch in enumerate(chars)}
    norm = NormStats.fit(splits["train"])
    summary: dict[str, Any] = {"splits": {}}
    for split in SPLITS:
        lines = splits[split]
        usable: list[tuple[Line, np.ndarray]] = []
        for line in lines:
            unknown = sorted({ch for ch in line.text if ch not in index})
            if unknown:
                report.add(UNKNOWN_CHARS, line.line_id or line.text[:30], "characters " + "".join(unknown))
                continue
            usable.append((line, np.fromiter((index[ch] for ch in line.text), dtype=np.int64, count=len(line.text))))
        if not usable:
            raise SeqgenError(f"the '{split}' split of corpus '{corpus.name}' is empty: use more lines or other split fractions")
        if split == "train":
            random.Random(f"order/{seed}").shuffle(usable)  # shards mix writers and lengths
        per_shard = samples_per_shard
        if split == "train":
            per_shard = max(1, min(samples_per_shard, len(usable) // max(min_train_shards, 1)))
        writer = ShardWriter(out, split, per_shard)
        shards = writer.write(
            _sample(f"{split}-{i:08d}", norm.apply(line.offsets), ids, line) for i, (line, ids) in enumerate(usable)
        )
        points = [line.n_points for line, _ in usable]
        summary["splits"][split] = {
            "lines": len(usable),
            "points": int(sum(points)),
            "max_points": int(max(points)),
            "mean_points": round(float(np.mean(points)), 1),
            "max_chars": int(max(len(line.text) for line, _ in usable)),
            "writers": len({line.writer for line, _ in usable}),
            "shards": len(shards),
            "reused_shards": writer.reused,
        }
    report.kept = sum(summary["splits"][split]["lines"] for split in SPLITS)
    train_chars = sum(len(line.text) for line in splits["train"])
    meta = {
        "family": "handwriting",
        "corpus": corpus.name,
        "corpus_settings": corpus.describe() if hasattr(corpus, "describe") else {},
        "norm": norm.to_dict(),
        "vocab": {"chars": chars},
        "splits": summary["splits"],
        "train_lines": summary["splits"]["train"]["lines"],
        "points_per_char": round(summary["splits"]["train"]["points"] / max(train_chars, 1), 2),
        "skipped": report.to_dict(),
        "styles": _choose_styles(splits["train"], norm, n_styles, seed),
    }
    return finish(out, meta, report, summary)  # meta.json, the printed report, the summary: shared


def finish(out: Path, meta: dict[str, Any], report: SkipReport, summary: dict[str, Any]) -> dict[str, Any]:
    """Write meta.json, print the skip report (names of the first ten per reason), complete the summary."""
    write_meta(out, meta)
    log.info("skip report: %s", report.summary())
    print(f"[seqgen] handwriting skip report: {report.summary()}", flush=True)
    for label, named in [(reason, names) for reason, names in sorted(report.names.items())] + [
        (f"repaired ({kind})", names) for kind, names in sorted(report.repaired.items())
    ]:
        shown = ", ".join(named[:10]) + (f", ... ({len(named) - 10} more, all listed in meta.json)" if len(named) > 10 else "")
        print(f"[seqgen]   {label}: {shown}", flush=True)
    chars = meta["vocab"]["chars"]
    summary.update(
        {
            "out_dir": str(out),
            "vocab_size": len(chars),
            "vocab": "".join(chars),
            "norm": meta["norm"],
            "skipped": {"counts": dict(report.counts), "repairs": dict(report.repairs)},
        }
    )
    return summary
