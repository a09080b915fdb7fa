"""The recogniser module: CTC training on a tiny corpus drives the CER down; lines too short for
CTC are skipped, counted and named; reading raw strokes; alphabet mismatch."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from seqgen.data.handwriting.batch import collate_lines
from seqgen.families.handwriting.hershey import render_line, sample_writers
from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.eval.legibility import check_alphabet
from seqgen.core.family import get_family
from seqgen.families.recognizer.decode import cer
from seqgen.families.recognizer.module import HandwritingRecognizer

TEXTS = ["ab", "ba", "cab", "bac", "ca", "abc"]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_corpus() -> tuple[dict, list[dict], list[np.ndarray]]:
    writer = sample_writers(1, seed=3, fonts=("scripts",))[0]
    lines = [render_line(text, writer, np.random.default_rng(i)) for i, text in enumerate(TEXTS)]
    norm = NormStats.fit(lines)
    vocab = sorted(set("".join(TEXTS)))
    info = {"family": "handwriting", "norm": norm.to_dict(), "vocab": {"chars": vocab}}
    index = {ch: i for i, ch in enumerate(vocab)}
    items = [
        {
            "offsets": torch.from_numpy(norm.apply(line.offsets)),
            "chars": torch.tensor([index[c] for c in line.text]),
            "text": line.text,
            "writer": line.writer,
            "id": f"train-{i:08d}",
        }
        for i, line in enumerate(lines)
    ]
    return info, items, [line.offsets for line in lines]


def test_ctc_training_drives_cer_down() -> None:
    torch.manual_seed(0)
    info, items, raw = tiny_corpus()
    model = HandwritingRecognizer(info, hidden_size=32, num_layers=1, subsample=4)
    batch = collate_lines(items)
    before = cer(model.read(raw), TEXTS)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(150):
        loss, logs = model.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    after_greedy, after_beam = cer(model.read(raw), TEXTS), cer(model.read(raw, "beam"), TEXTS)
    assert before >= 0.5, before  # untrained: mostly wrong
    assert losses[-1] < 0.2 * losses[0]
    assert after_greedy <= 0.2 and after_beam <= after_greedy + 1e-9, (after_greedy, after_beam)
    assert not model.ctc_skipped


def test_too_short_lines_are_skipped_counted_and_named(caplog: pytest.LogCaptureFixture) -> None:
    info, items, _ = tiny_corpus()
    short = dict(items[0], offsets=items[0]["offsets"][:3], id="train-short")  # 2 points, 2 characters at subsample 4
    model = HandwritingRecognizer(info, hidden_size=8, num_layers=1, subsample=4)
    batch = collate_lines([short, *items[1:3]])
    with caplog.at_level(logging.WARNING):
        loss, logs = model.compute_loss(batch)
    assert torch.isfinite(loss) and loss > 0
    assert model.ctc_skipped == {"train-short"} and float(logs["ctc_skipped"]) == 1.0
    assert "train-short" in caplog.text and "skipped" in caplog.text
    # the loss is the mean over the feasible lines only
    alone, _ = model.compute_loss(collate_lines(items[1:3]))
    assert loss.item() == pytest.approx(alone.item(), rel=1e-5)
    # a batch of only unusable lines still gives a backward-able (zero-gradient) loss
    only, _ = model.compute_loss(collate_lines([short]))
    only.backward()
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    assert checkpoint["ctc_skipped_lines"] == ["train-short"] and checkpoint["seqgen"]["family"] == "recognizer"


def test_config_errors_and_registry() -> None:
    info, _, _ = tiny_corpus()
    with pytest.raises(SeqgenError, match="subsample"):
        HandwritingRecognizer(info, subsample=0)
    with pytest.raises(SeqgenError, match="decoder"):
        HandwritingRecognizer(info, decoder="viterbi")
    with pytest.raises(SeqgenError, match="handwriting data"):
        HandwritingRecognizer({**info, "family": "text"})
    family = get_family("recognizer")
    assert family.module_class("HandwritingRecognizer") is HandwritingRecognizer


def test_alphabet_mismatch_names_the_missing_characters() -> None:
    check_alphabet("abc", "abcd")
    with pytest.raises(SeqgenError) as err:
        check_alphabet("abcxZ", "abc")
    assert "'Z'" in str(err.value) and "'x'" in str(err.value) and "2 character" in str(err.value)
