"""Handwriting sampling: end rule, per-row stopping, bias, priming, styles, text checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED
from handwriting_helpers import controlled_window, one_thread  # noqa: F401  (autouse fixture)

from seqgen.data.handwriting.strokes import NormStats, strokes_to_offsets
from seqgen.errors import SeqgenError
from seqgen.families.handwriting.config import HandwritingPredictionConfig, HandwritingSynthesisConfig
from seqgen.families.handwriting.nets import PredictionNet, SynthesisNet
from seqgen.families.handwriting.generate import (
    Prime,
    check_texts,
    resolve_style,
    sample_prediction,
    sample_synthesis,
)

VOCAB = list(" abcdefghijklmnopqrstuvwxyz.")
NORM = NormStats(mean=np.array([2.0, 0.0]), std=np.array([10.0, 5.0]), median_step=8.0)


def _net(rate: float | None = 0.2, seed: int = 0) -> SynthesisNet:
    torch.manual_seed(seed)
    net = SynthesisNet(len(VOCAB), HandwritingSynthesisConfig(hidden_size=16, num_layers=2, window_components=3, mixture_components=4, kappa_scale=25.0, clip_lstm_grad=None, clip_output_grad=None))
    if rate is not None:
        controlled_window(net, rate)
    return net.eval()


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_end_rule_stops_after_the_last_character_and_not_before() -> None:
    rate = 0.2
    samples = sample_synthesis(_net(rate), NORM, VOCAB, ["hello world"], max_points=500, generator=_gen(0))
    u = len("hello world")
    kappa = samples.kappas[0].mean(1)  # all components equal here
    phi = samples.phis[0]
    n = len(phi)
    assert samples.ended[0], "the end rule, not max_points, stopped the line"
    # does not drop the last character: the window's peak reached it before stopping
    assert int(phi.argmax(1).max()) == u - 1
    assert (phi.argmax(1) == u - 1).sum() >= 2
    # no gibberish after the text: stopped within a bounded number of steps once kappa passed U
    passed = int(np.argmax(kappa > u))
    assert kappa[passed] > u and n - passed <= int(np.ceil(0.5 / rate)) + 1
    # the offsets hold exactly the emitted points (+ start row), the last one lifts the pen
    assert samples.offsets[0].shape == (n + 1, 3) and samples.offsets[0][-1, 2] == 1.0


def test_rows_of_a_batch_stop_on_their_own() -> None:
    texts = ["a", "hello world", "abc def", "hello world"]
    samples = sample_synthesis(_net(0.25), NORM, VOCAB, texts, max_points=500, generator=_gen(1))
    lengths = [len(o) - 1 for o in samples.offsets]
    assert all(samples.ended)
    assert lengths[0] < lengths[2] < lengths[1]
    assert abs(lengths[1] - lengths[3]) <= 1  # same text, same (controlled) window speed
    for text, phi in zip(texts, samples.phis):
        assert phi.shape[1] == len(text)
        assert int(phi.argmax(1).max()) == len(text) - 1


def test_max_points_guard_and_untrained_window_still_ends() -> None:
    capped = sample_synthesis(_net(0.01), NORM, VOCAB, ["hello world"], max_points=50, generator=_gen(0))
    assert not capped.ended[0] and len(capped.offsets[0]) == 51
    free = sample_synthesis(_net(rate=None), NORM, VOCAB, ["abc"], max_points=2000, generator=_gen(0))
    assert free.ended[0] and len(free.offsets[0]) < 2000


def test_large_bias_is_nearly_deterministic() -> None:
    net = _net(0.2)
    with torch.no_grad():  # no pen lifts: the (unbiased) Bernoulli would otherwise differ between seeds
        net.head.linear.weight[0].zero_()
        net.head.linear.bias[0] = 30.0
        m = net.head.n_components  # a clear favourite component, as in a trained network
        net.head.linear.bias[1 : 1 + m] = torch.arange(m, dtype=torch.float32)

    def spread(bias: float) -> float:
        a = sample_synthesis(net, NORM, VOCAB, ["abc"], bias=bias, generator=_gen(1)).offsets[0]
        b = sample_synthesis(net, NORM, VOCAB, ["abc"], bias=bias, generator=_gen(2)).offsets[0]
        n = min(len(a), len(b))
        return float(np.abs(a[:n, :2] - b[:n, :2]).max())

    assert spread(20.0) < 1e-3 * spread(0.0)
    assert spread(0.0) > 1.0


def test_priming_changes_the_output_and_keeps_the_text() -> None:
    prime_text = "the prime"
    strokes = [np.cumsum(np.random.default_rng(0).normal(size=(12, 2)) * 8, 0) + [40.0 * k, 0.0] for k in range(5)]
    prime = Prime(NORM.adapt(strokes_to_offsets(strokes)), prime_text, "test")
    steps = len(prime.offsets)
    rate = (len(prime_text) + 1) / steps  # the window reads the prime text while the prime is fed
    net = _net(rate)
    plain = sample_synthesis(net, NORM, VOCAB, ["new words"], generator=_gen(3))
    primed = sample_synthesis(net, NORM, VOCAB, ["new words"], prime=prime, generator=_gen(3))
    assert primed.ended[0]
    assert primed.texts == ["new words"] and primed.phis[0].shape[1] == len("new words")
    # only the new part is returned, and the window covered the new text to its last character
    assert len(primed.offsets[0]) - 1 <= int((len("new words") + 1.5) / rate) + 2
    assert int(primed.phis[0].argmax(1).max()) == len("new words") - 1
    assert primed.phis[0][0].argmax() <= 1, "the new part starts at the new text's first character"
    n = min(len(plain.offsets[0]), len(primed.offsets[0]))
    assert not np.allclose(plain.offsets[0][:n], primed.offsets[0][:n]), "the prime changes the handwriting"


def test_check_texts_unknown_empty_and_too_long() -> None:
    with pytest.raises(SeqgenError, match=r"'#'.*'Z'|'Z'.*'#'") as err:
        check_texts(["hello Z#"], VOCAB)
    assert "unknown_chars=drop" in str(err.value)
    assert check_texts(["hello Z#"], VOCAB, unknown_chars="drop") == ["hello "]
    with pytest.raises(SeqgenError, match="empty"):
        check_texts(["  "], VOCAB)
    with pytest.raises(SeqgenError, match="nothing left"):
        check_texts(["ZZ"], VOCAB, unknown_chars="drop")
    with pytest.raises(SeqgenError, match="longer than the maximum of 5"):
        check_texts(["abcdef"], VOCAB, max_chars=5)
    with pytest.raises(SeqgenError, match="unknown_chars must be"):
        check_texts(["abc"], VOCAB, unknown_chars="ignore")


def test_styles_real_training_writer_and_user_file(tmp_path: Path) -> None:
    train_styles = [{"writer": "w0", "text": "ab", "offsets": [[0.0, 0.0, 1.0], [0.5, 0.1, 0.0], [0.2, 0.3, 1.0]]}]
    own = resolve_style("writer:0", None, NORM, train_styles)
    assert own.text == "ab" and own.offsets.shape == (3, 3)
    empty = tmp_path / "no_styles"
    empty.mkdir()
    fallback = resolve_style(0, None, NORM, train_styles, styles_dir=empty)
    assert fallback.text == "ab"
    with pytest.raises(SeqgenError, match="training writer styles"):
        resolve_style(5, None, NORM, train_styles, styles_dir=empty)

    strokes = [[[0, 0], [10, 20], [20, 0]], [[30, 0], [40, 10]]]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"text": "hi", "strokes": strokes}))
    user = resolve_style(str(path), None, NORM)
    assert user.text == "hi" and user.offsets[0, 2] == 1.0
    path.write_text(json.dumps({"strokes": strokes}))
    with pytest.raises(SeqgenError, match="style_text"):
        resolve_style(str(path), None, NORM)
    assert resolve_style(str(path), "ok", NORM).text == "ok"

    # without a styles folder (none configured) an index picks a training writer
    assert resolve_style(0, None, NORM, train_styles).name == "training writer w0"
    styles = SHARED / "real-samples" / "iam-ondb" / "styles"
    if not styles.is_dir():
        pytest.skip("real styles not available")
    real = resolve_style(3, None, NORM, styles_dir=styles)
    assert real.text and real.name.startswith("real style 3")
    # rescaled to the training data's median step, then normalised with the training mean/std
    raw = NORM.invert(real.offsets)
    steps = np.hypot(raw[2:, 0], raw[2:, 1])[raw[1:-1, 2] < 0.5]
    assert abs(np.median(steps) - NORM.median_step) < 0.05 * NORM.median_step


def test_prediction_sampling_and_priming() -> None:
    torch.manual_seed(0)
    net = PredictionNet(HandwritingPredictionConfig(hidden_size=16, num_layers=2, mixture_components=3, clip_lstm_grad=None, clip_output_grad=None)).eval()
    out = sample_prediction(net, NORM, num_samples=3, length=40, generator=_gen(0), keep_params=True)
    assert [o.shape for o in out.offsets] == [(41, 3)] * 3
    assert out.params[0]["mu"].shape == (40, 3, 2)
    prime = Prime(NORM.apply(strokes_to_offsets([np.arange(20.0).reshape(10, 2)])), "", "p")
    primed = sample_prediction(net, NORM, num_samples=1, length=10, prime=prime, generator=_gen(0))
    assert primed.offsets[0].shape == (11, 3)
