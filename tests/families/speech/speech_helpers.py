"""Small TIMIT-format files written by the tests (SPHERE header included), tiny corpora, and the
skip mark for tests that need libespeak-ng."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqgen.errors import SeqgenError
from seqgen.families.speech.timit import write_sphere

PHONES = ["h#", "hh", "eh", "l", "ow", "q", "w", "er", "l", "dcl", "d", "h#"]


def tone_utterance(n_phones: int, seed: int, rate: int = 16000, seg: int = 800) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """A synthetic 'utterance': one sine per phone, `seg` samples each, and its .PHN segments."""
    rng = np.random.default_rng(seed)
    labels = [PHONES[i % len(PHONES)] for i in range(n_phones)]
    t = np.arange(seg) / rate
    parts = [0.3 * np.sin(2 * np.pi * rng.uniform(150, 2000) * t) for _ in labels]
    audio = (np.concatenate(parts) * 32767).astype(np.int16)
    return audio, [(i * seg, (i + 1) * seg, p) for i, p in enumerate(labels)]


def write_timit_utterance(folder: Path, stem: str, seed: int, n_phones: int = 12, rate: int = 16000, **sphere: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    audio, segs = tone_utterance(n_phones, seed, rate)
    wav = write_sphere(folder / f"{stem}.WAV", audio, rate, **sphere)  # type: ignore[arg-type]
    (folder / f"{stem}.PHN").write_text("".join(f"{b} {e} {p}\n" for b, e, p in segs))
    n = len(audio)
    (folder / f"{stem}.WRD").write_text(f"{segs[1][0]} {segs[4][1]} hello\n{segs[6][0]} {segs[10][1]} world\n")
    (folder / f"{stem}.TXT").write_text(f"0 {n} Hello world.\n")
    return wav


def write_timit_tree(root: Path) -> Path:
    """TRAIN: 3 speakers x (SA1, SI1, SX1); TEST: a dev speaker, a core speaker, one in neither list."""
    speakers = {"TRAIN/DR1/FCJF0": 0, "TRAIN/DR1/MDPK0": 10, "TRAIN/DR2/FAEM0": 20,
                "TEST/DR1/FAKS0": 30, "TEST/DR1/MDAB0": 40, "TEST/DR2/MXXX0": 50}
    for rel, seed in speakers.items():
        for k, stem in enumerate(("SA1", "SI1", "SX1")):
            write_timit_utterance(root / rel, stem, seed + k)
    return root


def espeak_available() -> bool:
    try:
        from seqgen.families.speech.espeak import Espeak

        Espeak.get()
        return True
    except SeqgenError:
        return False


needs_espeak = pytest.mark.skipif(not espeak_available(), reason="libespeak-ng missing: pip install espeakng-loader")
