"""The recogniser over audio frames: CTC on frames whose pattern depends on the phoneme drives the
PER down; PER is a phoneme-level edit rate after the data's scoring fold; reading raw frames
normalises them; wrong data or units are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgen.errors import SeqgenError
from seqgen.core.family import get_family
from seqgen.families.recognizer.module import PhonemeRecognizer
from seqgen.families.speech.datamodule import collate_utterances
from test_recognizer import one_thread  # noqa: F401  (autouse: one torch thread)

PHONES = ["a", "b", "c", "c2", "_"]
SENTENCES = [["_", "a", "b", "_"], ["_", "b", "c", "a", "_"], ["_", "c2", "a", "_"], ["_", "a", "c", "b", "_"], ["_", "b", "a", "c2", "_"]]
DIM = 6


def data_info(**changes: object) -> dict:
    info = {"family": "speech", "units": "phonemes", "vocab": {"phonemes": PHONES, "chars": list("abc")},
            "norm": {"mean": [2.0] * DIM, "std": [3.0] * DIM}, "features": {"kind": "mel", "n_mels": DIM},
            "scoring": {"name": "test fold", "fold": {"c2": "c"}}}
    info.update(changes)
    return info


def raw_frames(phones: list[str], rng: np.random.Generator, per_phone: int = 6) -> np.ndarray:
    """Unnormalised frames: each phoneme's own pattern (c2 sounds like c), with noise."""
    patterns = {p: np.eye(DIM)[i] * 6.0 + 2.0 for i, p in enumerate(["a", "b", "c", "_"])}
    patterns["c2"] = patterns["c"]
    return np.concatenate([patterns[p] + 0.3 * rng.standard_normal((per_phone, DIM)) for p in phones]).astype(np.float32)


def batch_of(sentences: list[list[str]], rng: np.random.Generator) -> tuple[dict, list[np.ndarray]]:
    raw = [raw_frames(s, rng) for s in sentences]
    items = [{"frames": torch.from_numpy((r - 2.0) / 3.0), "symbols": torch.tensor([PHONES.index(p) + 1 for p in s]), "speaker": 0,
              "speaker_name": "s", "bounds": np.zeros(1), "text": "", "uid": f"u{i}"} for i, (s, r) in enumerate(zip(sentences, raw))]
    return collate_utterances(items), raw


def test_ctc_on_frames_drives_the_phoneme_error_rate_down() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = PhonemeRecognizer(data_info(), hidden_size=24, num_layers=1, subsample=2)
    batch, raw = batch_of(SENTENCES, rng)
    refs = [" ".join(s) for s in SENTENCES]
    before = model.error_rate(model.read(raw), refs)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(120):
        loss, _ = model.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    heard = model.read([raw_frames(s, rng) for s in SENTENCES])  # new noise: read() normalises raw frames itself
    assert before >= 0.5 and model.error_rate(heard, refs) <= 0.15, heard
    assert all(set(h.split()) <= set(PHONES) for h in heard)
    # validation logs val/per (the monitor); the family knows the class
    model._evaluate(batch, "val")
    assert float(model.error_metrics["val"].compute()) <= 0.15
    assert model.monitor == "val/per" and get_family("recognizer").module_class("PhonemeRecognizer") is PhonemeRecognizer


def test_per_counts_phonemes_after_the_scoring_fold() -> None:
    model = PhonemeRecognizer(data_info(), hidden_size=4, num_layers=1)
    assert model.error_rate(["a b c"], ["a x c"]) == pytest.approx(1 / 3)  # one substituted phoneme, not characters
    assert model.error_rate(["a c2 b"], ["a c b"]) == 0.0  # c2 is scored as c
    assert model.error_rate(["a b", "c"], ["a b c", "c"]) == pytest.approx(1 / 4)  # corpus level: 1 deletion / 4
    unfolded = PhonemeRecognizer(data_info(scoring=None), hidden_size=4, num_layers=1)
    assert unfolded.error_rate(["a c2 b"], ["a c b"]) == pytest.approx(1 / 3)


def test_wrong_data_and_units_are_refused() -> None:
    with pytest.raises(SeqgenError, match="speech data"):
        PhonemeRecognizer(data_info(family="handwriting"))
    with pytest.raises(SeqgenError, match="units=phonemes"):
        PhonemeRecognizer(data_info(units="chars"))
    with pytest.raises(SeqgenError, match="subsample"):
        PhonemeRecognizer(data_info(), subsample=0)
