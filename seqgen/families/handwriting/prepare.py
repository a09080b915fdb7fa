"""`prepare` for handwriting corpora: `Line`s -> normalised offset shards + meta.json.

One shard sample per line::

    <key>.offsets.npy   float32 (T, 3) rows (dx, dy, end_of_stroke), (dx, dy) normalised with the
                        training NormStats (mean 0, std 1 over the training split); row 0 is the start row
    <key>.chars.npy     int16 (U,) character ids of the transcription (vocabulary in meta.json)
    <key>.text.txt      the transcription (UTF-8)
    <key>.writer.txt    writer id

Flat memory whatever the corpus size: the corpus is read once, every line spilled to a `LineStore`
in a hidden scratch folder of the output folder (removed at the end, and by the next run after a
kill), keeping only ~50 bytes of metadata per line in memory; filters and statistics work from
that metadata, the vocabulary and the normalisation statistics from the training lines read back
one at a time, and the shards from lines read back in shard order. The shards and meta.json are
the same as an in-memory preparation would write (tests/families/handwriting/test_prepare_streamed.py;
benchmarks/prepare_memory.py --family handwriting measures the memory).

meta.json (what the datamodule and the models need): ``family: handwriting``, the corpus name,
``norm`` (NormStats: mean/std of the raw offsets over the *training* split, median step),
``vocab.chars`` (every character of the training transcriptions, sorted, nothing dropped),
per-split counts, the skip report (counts + names of everything not used and why) and a few
training lines of different writers (``styles``, normalised) used as primes by `seqgen-sample`.

Two corpora (Hydra ``data.corpus``):

* `HersheyCorpus`: the offline default. Text lines cut from the embedded text corpus
  (CPython docstrings) by `text_lines_from_corpus`, written by many synthetic Hershey writers.
  Lines are split at random into train/valid/test; optionally some writers are held out entirely
  (`holdout_writers`: their lines go only to valid and test, so validation also measures
  generalisation to unseen writers).
* `IamOnDbCorpus`: the original IAM-OnDB layout (lineStrokes/ + ascii/ + optional split lists).
  The paper's split: train on trainset + testset_t (valid2) + testset_f (test), validate on
  testset_v (valid1); with ``split: paper`` the test split is the same lines as validation (like the
  paper, which reports validation numbers). ``split: standard`` keeps test separate; without the
  split lists, forms are split at random by `fractions`.
"""

from __future__ import annotations

import logging
import random
from array import array
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from seqgen.families.handwriting.config import HandwritingPrepareConfig
from seqgen.families.handwriting.iam import SkipReport
from seqgen.families.handwriting.linestore import LineStore
from seqgen.data.handwriting.strokes import Line, NormStats
from seqgen.core.prepare import SPLITS, Preparation, SplitPlan, WrittenSplit, prepare_shards, train_shard_size
from seqgen.core.config import build
from seqgen.data.shards import encode_array
from seqgen.data.spill import scratch_dir
from seqgen.errors import SeqgenError
from seqgen.io import split_fractions

log = logging.getLogger(__name__)

UNKNOWN_CHARS = "chars_not_in_training_vocabulary"
TOO_LONG = "too_many_points"
TOO_SHORT = "too_few_points"
OUTLIER_SCALE = "outlier_line_scale"
LINE_SCALE_FACTOR = 10.0  # a line whose median step is 10x off the corpus's is not handwriting at this scale


Indices = array  # array("q") of LineStore indices: one split's lines in order, 8 bytes per line


def drop_scale_outliers(store: LineStore, splits: dict[str, Indices], report: SkipReport) -> float:
    """Skip lines whose scale is wildly off the corpus's (per line; the reader checks per point).

    The corpus scale M is the median over all lines (each stored line once, even when it is in two
    splits) of each line's median pen-down step. A line is skipped (counted, named) when its own
    median step is more than LINE_SCALE_FACTOR times above or below M, or when one of its moves is
    longer than NormStats.ROBUST_FACTOR * M. Returns M.
    """
    members = [np.frombuffer(splits[split], dtype=np.int64) for split in SPLITS if len(splits.get(split, ()))]
    steps = np.frombuffer(store.median_step, dtype=np.float64)[np.unique(np.concatenate(members))] if members else np.zeros(0)
    positive = steps[(steps > 0) & np.isfinite(steps)]
    if not len(positive):
        return 1.0
    scale = float(np.median(positive))
    bound = NormStats.ROBUST_FACTOR * scale
    for split in SPLITS:
        kept = array("q")
        for index in splits.get(split, ()):
            m, longest = store.median_step[index], store.longest[index]
            if not np.isfinite(longest) or longest > bound:
                report.add(OUTLIER_SCALE, store.name(index), f"a move of {longest:.3g} units (corpus median step {scale:.3g})")
            elif m > 0 and not (scale / LINE_SCALE_FACTOR <= m <= scale * LINE_SCALE_FACTOR):
                report.add(OUTLIER_SCALE, store.name(index), f"median step {m:.3g} vs the corpus's {scale:.3g}")
            else:
                kept.append(index)
        splits[split] = kept
    return scale


class PrepareReport(SkipReport):
    """The reader's SkipReport, logged under this module's name (the corpus may not be IAM-OnDB)."""

    def add(self, reason: str, name: str, detail: str = "") -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.names.setdefault(reason, []).append(name)
        log.warning("skipped %s (%s)%s", name, reason, f": {detail}" if detail else "")


def _fractions(split: Sequence[float]) -> tuple[float, float, float]:
    train, valid, test = split_fractions(split, key="data.corpus.split", partial=True).values()
    if train <= 0:
        raise SeqgenError(f"data.corpus.split={list(split)}: the training fraction must be > 0")
    return train, valid, test


# --------------------------------------------------------------------------------------- corpora


class LineCorpus:
    """A handwriting corpus: `split_lines(report, store)` reads every line into a `LineStore` and
    returns each split's line indices; `describe()` is its settings, kept in meta.json.

    A small corpus may instead give `load_splits(report)`: lists of `Line`s in memory, which the
    default `split_lines` stores (a line object in two splits is stored once, as the streaming
    corpora do)."""

    name: str = "lines"

    def split_lines(self, report: SkipReport, store: LineStore) -> dict[str, Indices]:
        stored: dict[int, int] = {}  # id(line) -> store index
        splits = {}
        for split, lines in self.load_splits(report).items():
            splits[split] = array("q")
            for line in lines:
                if id(line) not in stored:
                    stored[id(line)] = store.add(line)
                splits[split].append(stored[id(line)])
        return splits

    def load_splits(self, report: SkipReport) -> dict[str, list[Line]]:
        raise NotImplementedError(f"{type(self).__name__} gives neither split_lines nor load_splits")

    def describe(self) -> dict[str, Any]:
        return {}


class HersheyCorpus(LineCorpus):
    """Synthetic multi-writer handwriting of text lines from the embedded text corpus.

    n_lines: how many lines (the default few thousand prepare in well under a minute on 2 cores);
    n_writers: synthetic writers (each line gets one at random); min_chars/max_chars: line lengths;
    holdout_writers: writers whose lines go only to valid/test (0 = every writer in every split);
    split: fractions (train, valid, test) of the remaining lines; text_max_bytes: how much of the
    embedded corpus to cut lines from; texts: ``docstrings`` (lines cut from the prose as it is)
    or ``typed`` (its words typed as people type: case, numbers, punctuation; `texts.typed_lines`).
    """

    def __init__(
        self,
        n_lines: int = 3000,
        n_writers: int = 200,
        min_chars: int = 10,
        max_chars: int = 40,
        holdout_writers: int = 0,
        split: Sequence[float] = (0.9, 0.05, 0.05),
        text_max_bytes: int = 1_500_000,
        seed: int = 0,
        fonts: Sequence[str] | None = None,
        points_per_char: Sequence[float] | None = None,
        name: str = "hershey",
        texts: str = "docstrings",
    ) -> None:
        if texts not in ("docstrings", "typed"):
            raise SeqgenError(f"data.corpus.texts={texts!r}: use docstrings or typed")
        if n_lines < 3:
            raise SeqgenError(f"the Hershey corpus needs n_lines >= 3 (one per split), got {n_lines}")
        if not 0 <= holdout_writers < n_writers:
            raise SeqgenError(f"holdout_writers must be in [0, n_writers), got {holdout_writers} of {n_writers}")
        self.n_lines = int(n_lines)
        self.n_writers = int(n_writers)
        self.min_chars = int(min_chars)
        self.max_chars = int(max_chars)
        self.holdout_writers = int(holdout_writers)
        self.split = _fractions(split)
        self.text_max_bytes = int(text_max_bytes)
        self.seed = int(seed)
        self.fonts = tuple(fonts) if fonts else None
        from seqgen.families.handwriting.hershey import points_per_char_range

        self.points_per_char = points_per_char_range(points_per_char, "data.corpus.points_per_char") if points_per_char else None
        self.name = name
        self.text_kind = texts

    def texts(self) -> list[str]:
        from seqgen.families.handwriting.hershey import DEFAULT_FONTS, text_lines_from_corpus
        from seqgen.data.text.corpora import EmbeddedCorpus

        prose = EmbeddedCorpus(max_bytes=self.text_max_bytes).text().decode("utf-8", errors="replace")
        if self.text_kind == "typed":
            from seqgen.families.handwriting.hershey import writable_chars
            from seqgen.families.handwriting.texts import typed_lines

            lines = typed_lines(prose, self.n_lines, self.min_chars, self.max_chars, writable_chars(self.fonts or DEFAULT_FONTS), self.seed)
            if len(lines) < 3:
                raise SeqgenError(f"only {len(lines)} typed lines could be made from the embedded corpus: raise text_max_bytes")
            return lines
        lines = text_lines_from_corpus(
            prose, self.min_chars, self.max_chars, max_lines=None, fonts=self.fonts or DEFAULT_FONTS, seed=self.seed
        )
        if len(lines) < 3:
            raise SeqgenError(f"only {len(lines)} text lines could be cut from the embedded corpus: raise text_max_bytes")
        # Spread the lines over the whole text (not only its first modules), deterministically.
        rng = random.Random(self.seed)
        if len(lines) > self.n_lines:
            lines = rng.sample(lines, self.n_lines)
        elif len(lines) < self.n_lines:
            log.warning("only %d distinct text lines available (asked for %d): raise text_max_bytes", len(lines), self.n_lines)
        return lines

    def split_lines(self, report: SkipReport, store: LineStore) -> dict[str, Indices]:
        """Render every line into `store`; returns each split's line indices (in rendering order)."""
        from seqgen.families.handwriting.hershey import DEFAULT_FONTS, DEFAULT_POINTS_PER_CHAR, iter_hershey_lines, sample_writers

        fonts = self.fonts or DEFAULT_FONTS
        texts = self.texts()
        points = self.points_per_char or DEFAULT_POINTS_PER_CHAR
        writers = [w.name for w in sample_writers(self.n_writers, self.seed, fonts, points_per_char=points)]
        held_out = set(writers[len(writers) - self.holdout_writers :]) if self.holdout_writers else set()
        rng = random.Random(f"split/{self.seed}")
        frac_train, frac_valid, _ = self.split
        splits = {s: array("q") for s in SPLITS}
        # texts are filtered to characters every font can write, so rendering cannot fail
        for line in iter_hershey_lines(texts, self.n_writers, self.seed, fonts, points_per_char=points):
            r = rng.random()
            if line.writer in held_out:
                split = "valid" if r < 0.5 else "test"
            elif r < frac_train:
                split = "train"
            elif r < frac_train + frac_valid:
                split = "valid"
            else:
                split = "test"
            splits[split].append(store.add(line))
        return splits

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "hershey",
            "n_lines": self.n_lines,
            "n_writers": self.n_writers,
            "chars_per_line": [self.min_chars, self.max_chars],
            "texts": self.text_kind,
            "holdout_writers": self.holdout_writers,
            "points_per_char": list(self.points_per_char) if self.points_per_char else None,
            "split": list(self.split),
            "seed": self.seed,
        }


class IamOnDbCorpus(LineCorpus):
    """IAM-OnDB from its original layout under `root` (see `seqgen.families.handwriting.iam`).

    split: ``paper`` (train = trainset + testset_t + testset_f, valid = test = testset_v: Graves 2013),
    ``standard`` (train = trainset, valid = testset_v, test = testset_f), or ``random`` (no split
    lists needed: forms shuffled and cut by `fractions`). `lists` maps each seqgen split to the
    IAM-OnDB split names (train, valid, valid2, test) or list file names and overrides `split`.
    """

    PRESETS = {
        "paper": {"train": ["train", "valid2", "test"], "valid": ["valid"], "test": ["valid"]},
        "standard": {"train": ["train"], "valid": ["valid"], "test": ["test"]},
    }

    def __init__(
        self,
        root: str,
        split: str = "paper",
        lists: dict[str, list[str]] | None = None,
        fractions: Sequence[float] = (0.8, 0.1, 0.1),
        max_step: float | None = None,
        seed: int = 0,
        name: str = "iam_ondb",
    ) -> None:
        if not root:
            raise SeqgenError("IAM-OnDB: set data.corpus.root=<folder with lineStrokes/ and ascii/>")
        self.root = Path(str(root)).expanduser()
        if lists is None and split not in (*self.PRESETS, "random"):
            raise SeqgenError(f"IAM-OnDB: unknown split {split!r}; use paper, standard or random")
        self.split = split
        self.lists = {k: list(v) for k, v in lists.items()} if lists else None
        self.fractions = _fractions(fractions)
        self.max_step = max_step
        self.seed = int(seed)
        self.name = name

    def _read(self, split_ids: set[str] | None, report: SkipReport, store: LineStore) -> Indices:
        from seqgen.families.handwriting.iam import DEFAULT_MAX_STEP, iter_iam_lines

        lines = iter_iam_lines(self.root, split_ids, self.max_step or DEFAULT_MAX_STEP, report=report)
        return array("q", (store.add(line) for line in lines))

    def split_lines(self, report: SkipReport, store: LineStore) -> dict[str, Indices]:
        """Read the lines into `store`; returns each split's line indices (sorted by line id).

        Splits given by the same lists share one reading (``paper``: valid and test are the same
        lines, stored once).
        """
        from seqgen.families.handwriting.iam import read_split_ids

        lists = self.lists or self.PRESETS.get(self.split)
        if lists is None:  # random split by form
            lines = self._read(None, report, store)
            forms = sorted({store.line_id(i).rsplit("-", 1)[0] for i in lines})
            random.Random(self.seed).shuffle(forms)
            a, b, _ = self.fractions
            cut1, cut2 = round(len(forms) * a), round(len(forms) * (a + b))
            where = {f: ("train" if i < cut1 else "valid" if i < cut2 else "test") for i, f in enumerate(forms)}
            splits = {s: array("q") for s in SPLITS}
            for i in lines:
                splits[where[store.line_id(i).rsplit("-", 1)[0]]].append(i)
            return splits
        cache: dict[tuple[str, ...], Indices] = {}
        splits = {}
        for split in SPLITS:
            names = tuple(lists.get(split) or ())
            if not names:
                raise SeqgenError(f"IAM-OnDB: no split lists given for '{split}'")
            if names not in cache:
                ids: set[str] = set()
                for name in names:
                    ids |= read_split_ids(self.root, name)
                cache[names] = self._read(ids, report, store)
            splits[split] = cache[names]
        return splits

    def describe(self) -> dict[str, Any]:
        return {"kind": "iam_ondb", "root": str(self.root), "split": self.split, "lists": self.lists}


# --------------------------------------------------------------------------------------- prepare


def build_vocab(texts: Iterable[str | Line]) -> list[str]:
    """Every character of the training transcriptions (or `Line`s), sorted by code point (nothing dropped)."""
    chars: set[str] = set()
    for text in texts:
        chars.update(text.text if isinstance(text, Line) else text)
    if not chars:
        raise SeqgenError("the training transcriptions are empty: no character vocabulary")
    return sorted(chars)


def _choose_styles(store: LineStore, lines: Indices, norm: NormStats, n: int, seed: int) -> list[dict[str, Any]]:
    """A few training lines of distinct writers (medium length), normalised: primes for sampling."""
    rng = random.Random(f"styles/{seed}")
    by_writer: dict[str, int] = {}
    lengths = np.sort(np.frombuffer(store.n_chars, dtype=np.int32)[np.frombuffer(lines, dtype=np.int64)])
    lo, hi = lengths[len(lengths) // 4], lengths[(3 * len(lengths)) // 4]
    candidates = array("q", (i for i in lines if lo <= store.n_chars[i] <= hi)) or array("q", lines)
    rng.shuffle(candidates)  # the same permutation as shuffling a list of that length
    for index in candidates:
        writer = store.writer_name(index)
        if writer not in by_writer:
            by_writer[writer] = index
        if len(by_writer) >= n:
            break
    styles = []
    for writer in sorted(by_writer):
        index = by_writer[writer]
        offsets = np.round(norm.apply(store.offsets(index)).astype(np.float64), 4)
        styles.append({"writer": writer, "text": store.text(index), "offsets": offsets.tolist()})
    return styles


def _sample(key: str, offsets: np.ndarray, ids: np.ndarray, text: str, writer: str) -> dict[str, bytes]:
    return {
        "__key__": key,
        "offsets.npy": encode_array(offsets.astype(np.float32)),
        "chars.npy": encode_array(ids.astype(np.int16)),
        "text.txt": text.encode("utf-8"),
        "writer.txt": writer.encode("utf-8"),
    }


def _split_samples(store: LineStore, split: str, lines: Indices, norm: NormStats, index: dict[str, int]) -> Iterator[dict[str, bytes]]:
    for i, line in enumerate(lines):
        text = store.text(line)
        ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
        yield _sample(f"{split}-{i:08d}", norm.apply(store.offsets(line)), ids, text, store.writer_name(line))


def _read_and_filter(corpus: LineCorpus, store: LineStore, report: SkipReport, min_points: int, max_points: int | None) -> dict[str, Indices]:
    """Pass 1: the corpus into the store (its reader's skips reported as it goes), then the lines
    too short, too long or off the corpus's scale skipped."""
    splits = corpus.split_lines(report, store)
    for split in SPLITS:
        kept = array("q")
        for line in splits.get(split, ()):
            n_points = store.n_points(line)
            if n_points < min_points:
                report.add(TOO_SHORT, store.name(line), f"{n_points} points")
            elif max_points is not None and n_points > max_points:
                report.add(TOO_LONG, store.name(line), f"{n_points} > max_points={max_points}")
            else:
                kept.append(line)
        splits[split] = kept
    drop_scale_outliers(store, splits, report)
    if not splits.get("train"):
        raise SeqgenError(f"no training lines left in corpus '{corpus.name}': check the corpus settings ({report.summary()})")
    return splits


class HandwritingPreparation(Preparation):
    """Pass 2 (training lines): vocabulary and normalisation statistics, the lines each split can
    use; pass 3: the shards, one line read back from the store at a time."""

    family = "handwriting"

    def __init__(self, corpus: LineCorpus, store: LineStore, report: SkipReport, splits: dict[str, Indices],
                 config: HandwritingPrepareConfig) -> None:
        self.corpus, self.store, self.report, self.config = corpus, store, report, config
        seed = config.seed
        self.train = train = splits["train"]
        self.chars = build_vocab(store.text(i) for i in train)
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        train_medians = np.frombuffer(store.median_step, dtype=np.float64)[np.frombuffer(train, dtype=np.int64)]
        self.norm = NormStats.fit_stream(train_medians, (store.offsets(i) for i in train))
        self.usable = {split: self._known_chars_only(splits[split]) for split in SPLITS}
        for split in SPLITS:  # refused before a single shard is written
            if not self.usable[split]:
                raise SeqgenError(f"the '{split}' split of corpus '{corpus.name}' is empty: use more lines or other split fractions")
        random.Random(f"order/{seed}").shuffle(self.usable["train"])  # shards mix writers and lengths

    def _known_chars_only(self, lines: Indices) -> Indices:
        kept = array("q")
        for line in lines:
            unknown = sorted({ch for ch in self.store.text(line) if ch not in self.index})
            if unknown:
                self.report.add(UNKNOWN_CHARS, self.store.name(line), "characters " + "".join(unknown))
            else:
                kept.append(line)
        return kept

    def plan(self, split: str) -> SplitPlan:
        lines = self.usable[split]
        c = self.config
        per_shard = train_shard_size(len(lines), c.samples_per_shard, c.min_train_shards) if split == "train" else c.samples_per_shard
        return SplitPlan(_split_samples(self.store, split, lines, self.norm, self.index), per_shard)

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        lines, store = self.usable[split], self.store
        members = np.frombuffer(lines, dtype=np.int64)
        points = np.maximum(np.frombuffer(store.rows, dtype=np.int32)[members].astype(np.int64) - 1, 0)
        return {
            "lines": len(lines),
            "points": int(points.sum()),
            "max_points": int(points.max()),
            "mean_points": round(float(np.mean(points)), 1),
            "max_chars": int(np.frombuffer(store.n_chars, dtype=np.int32)[members].max()),
            "writers": len(np.unique(np.frombuffer(store.writer, dtype=np.int32)[members])),
        }

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        self.report.kept = sum(splits[split]["lines"] for split in SPLITS)
        train_chars = int(np.frombuffer(self.store.n_chars, dtype=np.int32)[np.frombuffer(self.train, dtype=np.int64)].astype(np.int64).sum())
        return {
            "corpus": self.corpus.name,
            "corpus_settings": self.corpus.describe(),
            "norm": self.norm.to_dict(),
            "vocab": {"chars": self.chars},
            "splits": splits,
            "train_lines": splits["train"]["lines"],
            "points_per_char": round(splits["train"]["points"] / max(train_chars, 1), 2),
            "skipped": self.report.to_dict(),
            "styles": _choose_styles(self.store, self.train, self.norm, self.config.n_styles, self.config.seed),
            "train_writers": sorted({self.store.writer_name(i) for i in self.train}),  # the writer classifier's classes
        }

    def summary(self, meta: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Print the skip report (names of the first ten per reason); the summary's extra entries."""
        report = self.report
        log.info("skip report: %s", report.summary())
        print(f"[seqgen] handwriting skip report: {report.summary()}", flush=True)
        for label, named in [(reason, names) for reason, names in sorted(report.names.items())] + [
            (f"repaired ({kind})", names) for kind, names in sorted(report.repaired.items())
        ]:
            shown = ", ".join(named[:10]) + (f", ... ({len(named) - 10} more, all listed in meta.json)" if len(named) > 10 else "")
            print(f"[seqgen]   {label}: {shown}", flush=True)
        return {
            "vocab_size": len(self.chars),
            "vocab": "".join(self.chars),
            "norm": meta["norm"],
            "skipped": {"counts": dict(report.counts), "repairs": dict(report.repairs)},
        }


def prepare_handwriting(corpus: LineCorpus, out_dir: str, **options: Any) -> dict[str, Any]:
    """Write train/valid/test shards and meta.json for a handwriting corpus; returns the summary.
    `options`: the rest of `data.prepare` (`HandwritingPrepareConfig`).

    Lines with fewer than `min_points` or (if set) more than `max_points` points are skipped; so
    are valid/test lines with a character that the training transcriptions lack (the model could
    not be conditioned on it). Every skip is counted, named in meta.json and logged. Nothing is
    written before every split is known to be non-empty.
    """
    config = build(HandwritingPrepareConfig, {**options, "out_dir": str(out_dir)}, "data.prepare")
    out = Path(out_dir)
    with scratch_dir(out) as scratch:
        store = LineStore(scratch)
        try:
            report = PrepareReport()
            splits = _read_and_filter(corpus, store, report, config.min_points, config.max_points)
            return prepare_shards(out, HandwritingPreparation(corpus, store, report, splits, config))
        finally:
            store.close()
