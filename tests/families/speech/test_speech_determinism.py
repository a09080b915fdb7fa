"""The espeak-ng corpus prepares to byte-identical shards, manifest.json and meta.json: run twice,
run after other synthesis in the same process, on another thread count, and killed part-way then
re-run.

libespeak-ng seeds its noise generator (breathy voices such as ``+f3``) from the clock and keeps
static synthesiser state between utterances; seqgen synthesises every utterance in a fresh fork of
a pristine engine, with a seed derived from the utterance (seqgen/families/speech/espeak.py).
MKL's float32 matrix product (the mel projection) sums differently on 4+ threads; prepare computes
features on one thread (features.one_thread). The build time goes to build.json, not meta.json.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_cfg
from speech_helpers import needs_espeak

# breathy variants (f3, f5: espeak's breath noise is random), a plain and a Klatt voice; the default 40
# mel bins (MKL's threaded product differs from the one-thread one at 40 bins, not at 16)
TINY = [
    "data=speech_espeak",
    "data.corpus.n_utterances=24",
    "data.corpus.n_speakers=4",
    "data.corpus.variants=[f3,f5,m1,klatt]",
    "data.corpus.voices=[en-us,en-gb-scotland]",
    "data.corpus.split=[0.7,0.15,0.15]",
    "data.corpus.text_max_bytes=60000",
    "data.prepare.samples_per_shard=4",
]


pytestmark = needs_espeak


def _prepare(tmp: Path, out: Path) -> dict:
    cfg = compose_cfg("prepare", tmp, [*TINY, f"data.dir={out}"])
    return instantiate(cfg.data.prepare, _recursive_=True)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file() and p.name != "build.json"}


def test_synthesis_is_isolated_and_seeded() -> None:
    """An utterance's audio depends on its text, voice, prosody and seed only: not on what the
    engine spoke before, nor on the clock."""
    from seqgen.families.speech.espeak import Espeak

    engine = Espeak.get()
    args = ("The weather was calm and warm that day.", "en-us+f3", 165, 55, 40)
    first, events = engine.synth(*args, seed=7)
    engine.synth("Something else entirely, in another voice.", "en-gb-scotland+klatt", 190, 30, 70, seed=3)
    engine.synth("And a third one.", "en-us+m1", 150, 60, 50, seed=1)
    again, events_again = engine.synth(*args, seed=7)
    assert len(first) > 0.5 * engine.sample_rate
    assert np.array_equal(first, again) and events == events_again
    other, _ = engine.synth(*args, seed=8)  # the breath noise follows the seed
    assert len(other) == len(first) and not np.array_equal(other, first)


def test_prepare_twice_gives_identical_files(tmp_path: Path) -> None:
    """Twice in one process (the engine has spoken before the second), the second time with torch
    on 4 threads (MKL's float32 mel product used to change with the thread count)."""
    a, b = tmp_path / "a", tmp_path / "b"
    _prepare(tmp_path, a)
    threads = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        _prepare(tmp_path, b)
    finally:
        torch.set_num_threads(threads)
    ha, hb = _hashes(a), _hashes(b)
    assert {"manifest.json", "meta.json"} <= set(ha) and sum(n.endswith(".tar") for n in ha) >= 3
    differ = sorted(n for n in ha if ha[n] != hb.get(n))
    assert ha == hb, f"files differ between two prepares of the same corpus: {differ}"


def test_killed_prepare_reruns_to_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A prepare stopped part-way (here: an interrupt at the first validation utterance) and run
    again writes the same files as one uninterrupted run, and recognises the shards it had finished."""
    from seqgen.families.speech import espeak

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    _prepare(tmp_path, clean)

    real = espeak.EspeakCorpus.iter_split

    def interrupted(self, split, report, expected_rate=None):  # type: ignore[no-untyped-def]
        for utt in real(self, split, report, expected_rate):
            if split == "valid":  # the training split and its shards are done, the rest is not
                raise KeyboardInterrupt
            yield utt

    monkeypatch.setattr(espeak.EspeakCorpus, "iter_split", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _prepare(tmp_path, killed)
    assert list(killed.glob("train-*.tar"))  # it had written shards before the "kill"
    monkeypatch.setattr(espeak.EspeakCorpus, "iter_split", real)
    summary = _prepare(tmp_path, killed)
    assert _hashes(killed) == _hashes(clean)
    assert summary["splits"]["train"]["reused_shards"] >= 1
