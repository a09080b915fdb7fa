"""Handwriting `prepare` in flat memory: the same shards as the former in-memory code, memory that does
not grow with the corpus beyond a few bytes per line, and no scratch or partial output after a failure
or a kill."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import socket
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from legacy_handwriting_prepare import prepare_handwriting_in_memory
from prepare_helpers import REAL_LINE, ListCorpus, WalkCorpus, iam_form, make_iam_tree

from seqgen.families.handwriting import iam
from seqgen.families.handwriting import prepare as hw
from seqgen.families.handwriting.linestore import BYTES_PER_LINE
from seqgen.families.handwriting.prepare import HersheyCorpus, IamOnDbCorpus, prepare_handwriting
from seqgen.data.spill import PREFIX
from seqgen.errors import SeqgenError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


# Keys the streamed prepare writes that the legacy in-memory code predates.
NEW_META_KEYS = ("train_writers",)


def _same_output(a: Path, b: Path) -> None:
    # the manifest holds every shard's sha256
    assert filecmp.cmp(a / "manifest.json", b / "manifest.json", shallow=False), "manifest.json differs"
    new_meta, old_meta = (json.loads((d / "meta.json").read_text()) for d in (a, b))
    writers = new_meta.pop("train_writers")
    assert writers == sorted(set(writers)) and all(isinstance(w, str) for w in writers)
    assert old_meta.pop("train_writers", writers) == writers  # both streamed: the same writers
    assert new_meta == old_meta, "meta.json differs beyond " + ", ".join(NEW_META_KEYS)
    shards = sorted(p.name for p in a.glob("*.tar"))
    assert shards == sorted(p.name for p in b.glob("*.tar")) and shards
    for name in shards:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


def _no_scratch(out: Path) -> None:
    assert not list(out.glob(PREFIX + "*")), "a spill folder was left behind"
    assert not [p for p in out.glob(".*") if p.is_file()], "a temp file was left behind"


@pytest.fixture(scope="module")
def iam_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_iam_tree(tmp_path_factory.mktemp("iam") / "iam")


@pytest.mark.parametrize("split", ["paper", "standard", "random"])
def test_iam_shards_are_byte_identical_to_in_memory(iam_root: Path, tmp_path: Path, split: str) -> None:
    corpus = IamOnDbCorpus(str(iam_root), split=split)
    args: dict[str, Any] = {"samples_per_shard": 4, "min_train_shards": 2, "max_points": 700}
    new = prepare_handwriting(corpus, str(tmp_path / "new"), **args)
    old = prepare_handwriting_in_memory(corpus, str(tmp_path / "old"), **args)
    _same_output(tmp_path / "new", tmp_path / "old")
    assert {k: v for k, v in new.items() if k != "out_dir"} == {k: v for k, v in old.items() if k != "out_dir"}
    _no_scratch(tmp_path / "new")


def test_every_skip_is_still_counted_and_named(iam_root: Path, tmp_path: Path) -> None:
    reasons: dict[str, list[str]] = {}
    for split in ("paper", "standard"):
        out = tmp_path / split
        summary = prepare_handwriting(IamOnDbCorpus(str(iam_root), split=split), str(out), samples_per_shard=4, max_points=700)
        meta = json.loads((out / "meta.json").read_text())
        assert summary["skipped"]["counts"] == meta["skipped"]["skipped"]
        for reason, names in meta["skipped"]["names"].items():
            assert len(names) == meta["skipped"]["skipped"][reason]
            reasons.setdefault(reason, []).extend(names)
    expected = {iam.MALFORMED_XML, iam.NO_STROKES_FILE, iam.NO_TRANSCRIPTION, iam.OUTLIER_LINE, iam.EMPTY_TEXT,
                iam.MALFORMED_ASCII, hw.TOO_SHORT, hw.TOO_LONG, hw.OUTLIER_SCALE, hw.UNKNOWN_CHARS}
    assert expected <= set(reasons), f"not exercised: {expected - set(reasons)}"
    for index, reason in ((2, iam.MALFORMED_XML), (9, hw.OUTLIER_SCALE), (8, hw.TOO_SHORT), (5, hw.UNKNOWN_CHARS), (4, iam.OUTLIER_LINE)):
        assert f"{iam_form(index)}-01" in reasons[reason], (index, reason, reasons[reason])


@pytest.mark.skipif(not REAL_LINE.is_file(), reason="../shared/real-samples is not here")
def test_the_real_iam_line_is_prepared(iam_root: Path, tmp_path: Path) -> None:
    prepare_handwriting(IamOnDbCorpus(str(iam_root), split="paper"), str(tmp_path / "out"), samples_per_shard=4)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert not any("a01-000u-01" in names for names in meta["skipped"]["names"].values())
    assert meta["skipped"]["repairs"].get("interpolated_points", 0) > 0  # only the real line has gaps


def test_hershey_shards_are_byte_identical_to_in_memory(tmp_path: Path) -> None:
    corpus = HersheyCorpus(n_lines=90, n_writers=12, min_chars=8, max_chars=24, holdout_writers=2,
                           text_max_bytes=60_000, fonts=["scripts"], split=[0.8, 0.1, 0.1])
    prepare_handwriting(corpus, str(tmp_path / "new"), samples_per_shard=8, min_train_shards=2, n_styles=4)
    prepare_handwriting_in_memory(corpus, str(tmp_path / "old"), samples_per_shard=8, min_train_shards=2, n_styles=4)
    _same_output(tmp_path / "new", tmp_path / "old")


def test_a_corpus_with_only_load_splits_still_prepares(tmp_path: Path) -> None:
    prepare_handwriting(ListCorpus(120, points=60), str(tmp_path / "new"), samples_per_shard=8, min_train_shards=2)
    prepare_handwriting_in_memory(ListCorpus(120, points=60), str(tmp_path / "old"), samples_per_shard=8, min_train_shards=2)
    _same_output(tmp_path / "new", tmp_path / "old")


def _peak(run: Any, corpus: Any, out: Path) -> int:
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    run(corpus, str(out), samples_per_shard=16, min_train_shards=2)
    return tracemalloc.get_traced_memory()[1] - before


def test_memory_does_not_grow_with_the_number_of_lines(tmp_path: Path) -> None:
    """Python-heap peak of prepare for N and 4N lines: the streamed code adds metadata only (~110
    bytes per line), the in-memory code the lines themselves (200 points = 2.4 KB each here)."""
    n, points = 120, 200
    tracemalloc.start()
    try:
        _peak(prepare_handwriting, WalkCorpus(40, points), tmp_path / "warm")  # first-call imports and caches
        _peak(prepare_handwriting_in_memory, ListCorpus(40, points), tmp_path / "owarm")
        small = _peak(prepare_handwriting, WalkCorpus(n, points), tmp_path / "s")
        large = _peak(prepare_handwriting, WalkCorpus(4 * n, points), tmp_path / "l")
        old_small = _peak(prepare_handwriting_in_memory, ListCorpus(n, points), tmp_path / "os")
        old_large = _peak(prepare_handwriting_in_memory, ListCorpus(4 * n, points), tmp_path / "ol")
    finally:
        tracemalloc.stop()
    per_line, old_per_line = (large - small) / (3 * n), (old_large - old_small) / (3 * n)
    print(f"bytes per line: streamed {per_line:.0f}, in-memory {old_per_line:.0f}")
    assert per_line < 200, f"streamed prepare holds {per_line:.0f} bytes per line"
    assert old_per_line > 12 * points  # the measurement sees what the in-memory code held
    assert large < 1.5 * small, (small, large)
    assert BYTES_PER_LINE < 100


class _Failing(WalkCorpus):
    def split_lines(self, report: Any, store: Any) -> Any:
        for i in range(50):
            store.add(self.line(i))
        raise OSError("disk unplugged while reading the corpus")


def test_failed_prepare_leaves_no_partial_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(OSError, match="unplugged"):
        prepare_handwriting(_Failing(100, points=50), str(out))
    assert sorted(p.name for p in out.iterdir()) == []
    # Empty valid split: refused before a single shard is written (it used to write train first).
    with pytest.raises(SeqgenError, match="'valid' split"):
        prepare_handwriting(HersheyCorpus(n_lines=40, n_writers=5, text_max_bytes=30_000, split=[1.0, 0.0, 0.0]), str(out))
    assert sorted(p.name for p in out.iterdir()) == []


_BLOCKING = """
import sys, time
sys.path[:0] = [{here!r}, {tests!r}]  # prepare_helpers and the conftest it imports
from prepare_helpers import WalkCorpus
from seqgen.families.handwriting.prepare import prepare_handwriting

class Blocking(WalkCorpus):
    def split_lines(self, report, store):
        for i in range(40):
            store.add(self.line(i))
        print("spilled", flush=True)
        time.sleep(600)

prepare_handwriting(Blocking(40, points=50), {out!r})
"""


def test_killed_prepare_reruns_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING.format(here=str(HERE), tests=str(HERE.parents[1]), out=str(out))], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "spilled"
        spill = list(out.glob(PREFIX + "*"))
        assert len(spill) == 1 and (spill[0] / "offsets.f32").stat().st_size > 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert spill[0].is_dir()  # a SIGKILL cannot clean up ...
    prepare_handwriting(WalkCorpus(60, points=50), str(out), samples_per_shard=8, min_train_shards=2)
    _no_scratch(out)  # ... the next run does
    prepare_handwriting(WalkCorpus(60, points=50), str(tmp_path / "clean"), samples_per_shard=8, min_train_shards=2)
    _same_output(out, tmp_path / "clean")


def test_spill_folders_of_live_processes_and_other_hosts_are_kept(tmp_path: Path) -> None:
    from seqgen.data.spill import remove_stale, scratch_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / f"{PREFIX}{dead.pid}@{host}.abc"
    live = tmp_path / f"{PREFIX}{os.getpid()}@{host}.def"
    other = tmp_path / f"{PREFIX}{dead.pid}@another-host.example.org.ghi"
    for folder in (stale, live, other):
        folder.mkdir()
    assert remove_stale(tmp_path) == [stale]
    assert live.is_dir() and other.is_dir()
    with scratch_dir(tmp_path) as scratch:
        assert scratch.parent == tmp_path and scratch.name.startswith(f"{PREFIX}{os.getpid()}@")
    assert not scratch.exists()
