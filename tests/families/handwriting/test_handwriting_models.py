"""Handwriting prediction/synthesis networks and models: shapes, fused == step-by-step, learning, options."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import torch
from handwriting_helpers import one_thread, tiny_hw_data  # noqa: F401  (fixtures)
from handwriting_stepwise import stepwise_forward

from seqgen.data.handwriting.batch import collate_lines
from seqgen.families.handwriting.datamodule import HandwritingDataModule, crop_batch
from seqgen.data.shards import read_meta
from seqgen.families.handwriting.module import HandwritingPrediction, HandwritingSynthesis
from seqgen.families.handwriting.config import HandwritingPredictionConfig, HandwritingSynthesisConfig
from seqgen.families.handwriting.nets import PredictionNet, SynthesisNet
from seqgen.nn.mdn import mixture_nll
from seqgen.nn.weight_noise import AdaptiveWeightNoise


def _batch(b: int = 3, t: int = 25, u: int = 7, v: int = 9, dtype: torch.dtype = torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t + 1, 3, generator=g, dtype=dtype)
    x[..., 2] = (torch.rand(b, t + 1, generator=g) < 0.1).to(dtype)
    chars = torch.randint(0, v, (b, u), generator=g)
    char_mask = torch.ones(b, u, dtype=torch.bool)
    char_mask[1, u - 3 :] = False  # a shorter transcription in the batch
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[2, t - 5 :] = False
    return x, chars, char_mask, mask


def test_synthesis_forward_shapes() -> None:
    torch.manual_seed(0)
    net = SynthesisNet(9, HandwritingSynthesisConfig(hidden_size=16, num_layers=3, window_components=4, mixture_components=5, kappa_scale=1.0, clip_lstm_grad=None, clip_output_grad=None))
    x, chars, char_mask, _ = _batch()
    params, state, phi = net(x[:, :-1], chars, char_mask, return_phi=True)
    assert params.eos_logit.shape == (3, 25)
    assert params.log_pi.shape == (3, 25, 5) and params.mu.shape == (3, 25, 5, 2)
    assert params.log_sigma.shape == (3, 25, 5, 2) and params.rho.shape == (3, 25, 5)
    assert phi.shape == (3, 25, 7)
    assert (phi[1, :, 4:] == 0).all(), "padded characters get no window weight"
    assert state.h1.shape == (3, 16) and state.kappa.shape == (3, 4) and state.w.shape == (3, 9)
    assert len(state.upper) == 3 and state.upper[2][0].shape == (1, 3, 16)
    # kappa only moves forward
    assert (state.kappa > 0).all()


def test_fused_upper_layers_equal_straightforward_per_step_loop() -> None:
    torch.manual_seed(1)
    net = SynthesisNet(9, HandwritingSynthesisConfig(hidden_size=16, num_layers=3, window_components=4, mixture_components=5, kappa_scale=5.0, clip_lstm_grad=None, clip_output_grad=None)).double()
    x, chars, char_mask, mask = _batch(dtype=torch.float64)
    fused, _, _ = net(x[:, :-1], chars, char_mask)
    reference = stepwise_forward(net, x[:, :-1], chars, char_mask)
    loss_fused = mixture_nll(fused, x[:, 1:], mask, reduction="seq_mean")
    loss_ref = mixture_nll(reference, x[:, 1:], mask, reduction="seq_mean")
    torch.testing.assert_close(loss_fused, loss_ref, rtol=1e-10, atol=1e-10)
    grads_fused = torch.autograd.grad(loss_fused, list(net.parameters()))
    grads_ref = torch.autograd.grad(loss_ref, list(net.parameters()))
    for a, b in zip(grads_fused, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_onednn_packed_weights_match_the_plain_path() -> None:
    """CPU float32 runs layer 1's per-step GEMMs (and sampling's) on prepacked oneDNN weights."""
    torch.manual_seed(3)
    net = SynthesisNet(9, HandwritingSynthesisConfig(hidden_size=32, num_layers=3, window_components=3, mixture_components=4, kappa_scale=1.0, clip_lstm_grad=10.0, clip_output_grad=None))
    x, chars, char_mask, mask = _batch()
    results = {}
    for packed in (True, False):
        net.use_packed_weights = packed
        net.zero_grad()
        params, _, _ = net(x[:, :-1], chars, char_mask)
        loss = mixture_nll(params, x[:, 1:], mask, reduction="seq_mean")
        loss.backward()
        state, onehot, mus = net.initial_state(3), net.one_hot(chars), []
        with torch.no_grad():
            weights = net.step_weights(3)
            for t in range(x.shape[1] - 1):
                step_params, _, _, state = net.step(x[:, t], state, onehot, char_mask, weights=weights)
                mus.append(step_params.mu)
        results[packed] = (loss.detach(), [p.grad.clone() for p in net.parameters()], torch.stack(mus, 1), params.mu.detach())
    torch.testing.assert_close(results[True][0], results[False][0], rtol=1e-5, atol=1e-4)
    for a, b in zip(results[True][1], results[False][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(results[True][2], results[False][3], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(results[True][2], results[True][3], rtol=1e-4, atol=1e-4)


def test_step_by_step_sampling_path_matches_forward() -> None:
    torch.manual_seed(2)
    net = SynthesisNet(9, HandwritingSynthesisConfig(hidden_size=16, num_layers=2, window_components=3, mixture_components=4, kappa_scale=1.0, clip_lstm_grad=None, clip_output_grad=None)).double().eval()
    x, chars, char_mask, _ = _batch(dtype=torch.float64)
    full, _, phi_full = net(x[:, :-1], chars, char_mask, return_phi=True)
    state = net.initial_state(3, dtype=torch.float64)
    onehot = net.one_hot(chars)
    mus, phis = [], []
    with torch.no_grad():
        for t in range(x.shape[1] - 1):
            params, phi, _, state = net.step(x[:, t], state, onehot, char_mask)
            mus.append(params.mu)
            phis.append(phi)
    torch.testing.assert_close(torch.stack(mus, 1), full.mu.detach())
    torch.testing.assert_close(torch.stack(phis, 1), phi_full.detach())

    pred = PredictionNet(HandwritingPredictionConfig(hidden_size=16, num_layers=3, mixture_components=4, clip_lstm_grad=None, clip_output_grad=None)).double().eval()
    whole, _ = pred(x)
    first, state = pred(x[:, :10])
    rest, _ = pred(x[:, 10:], state)
    torch.testing.assert_close(torch.cat([first.mu, rest.mu], 1), whole.mu)


def test_prepared_corpus_meta_and_batches(tiny_hw_data: Path) -> None:
    data_dir = tiny_hw_data / "handwriting_hershey"
    meta = read_meta(data_dir)
    assert meta["family"] == "handwriting"
    assert set(meta["splits"]) == {"train", "valid", "test"} and meta["train_lines"] == meta["splits"]["train"]["lines"]
    assert {"kept", "skipped", "names"} <= set(meta["skipped"])
    dm = HandwritingDataModule(str(data_dir), batch_size=4, eval_batch_size=5, max_points=30, num_workers=0)
    info = dm.load_info()
    vocab = info["vocab"]["chars"]
    lines = dm.read_lines("train", 1000)
    assert len(lines) == meta["splits"]["train"]["lines"]
    # every character of the training transcriptions is in the vocabulary, nothing else
    assert set(vocab) == set("".join(line["text"] for line in lines))
    assert vocab == sorted(vocab)
    # NormStats were computed on the training split: its normalised offsets have mean 0, std 1
    body = np.concatenate([line["offsets"].numpy()[1:, :2] for line in lines])
    np.testing.assert_allclose(body.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(body.std(0), 1.0, atol=1e-3)
    for line in lines[:5]:
        assert "".join(vocab[i] for i in line["chars"].tolist()) == line["text"]
    batch = collate_lines(lines[:4])
    b, t, _ = batch.offsets.shape
    assert batch.mask.shape == (b, t) and batch.mask.sum(1).tolist() == batch.lengths.tolist()
    assert batch.chars.shape == batch.char_mask.shape == (4, int(batch.char_lengths.max()))
    assert (batch.offsets[~batch.mask] == 0).all()
    cropped = crop_batch(batch, 30)
    assert cropped.offsets.shape[1] == 31 and int(cropped.lengths.max()) == 31
    assert cropped.chars is batch.chars, "the crop keeps the whole transcription"


def test_vocabulary_keeps_every_character(tmp_path: Path) -> None:
    from seqgen.families.handwriting.prepare import build_vocab
    from seqgen.data.handwriting.strokes import Line

    text = "Quiz 0123456789 XYZ qxz, (a.b)! 'c'? \"d\";-:"
    vocab = build_vocab([Line(np.zeros((2, 3), np.float32), text, "w", "test")])
    assert set(vocab) == set(text)
    for ch in "QXZqxz0123456789":
        assert ch in vocab


def _model(kind: str, data_dir: Path, **kwargs):
    dm = HandwritingDataModule(str(data_dir), batch_size=8, max_points=80, num_workers=0, batches_per_epoch=30, shuffle_buffer=8)
    info = dm.load_info()
    cls = HandwritingSynthesis if kind == "synthesis" else HandwritingPrediction
    defaults = dict(hidden_size=32, num_layers=2, mixture_components=4)
    if kind == "synthesis":
        defaults.update(window_components=3)
    defaults.update(kwargs)
    return cls(info, optim={"optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-2}}, **defaults), dm


def _train_steps(model, dm, steps: int) -> list[float]:
    """`steps` optimizer steps on random training batches, cropped as in training (`dm.expand`)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    lines = dm.read_lines("train", 1000)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        pick = rng.choice(len(lines), 8, replace=False)
        batch = next(iter(dm.expand(collate_lines([lines[i] for i in pick]))))
        loss, logs = model.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        losses.append(float(logs["nll_per_point"]))
    return losses


def test_synthesis_loss_falls_on_tiny_corpus(tiny_hw_data: Path) -> None:
    torch.manual_seed(0)
    model, dm = _model("synthesis", tiny_hw_data / "handwriting_hershey")
    losses = _train_steps(model, dm, 30)
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.5, losses


def test_prediction_loss_falls_and_weight_noise_trains(tiny_hw_data: Path) -> None:
    torch.manual_seed(0)
    model, dm = _model("prediction", tiny_hw_data / "handwriting_hershey", weight_noise=True)
    assert isinstance(model.core, AdaptiveWeightNoise)
    batch = collate_lines(dm.read_lines("train", 4))
    loss, logs = model.compute_loss(batch)
    assert float(logs["complexity"]) > 0 and torch.isclose(loss, logs["nll"] + logs["complexity"])
    loss.backward()
    sigmas = [p for n, p in model.named_parameters() if "log_sigma" in n]
    assert sigmas and all(p.grad is not None and p.grad.abs().sum() > 0 for p in sigmas)
    model.zero_grad()
    losses = _train_steps(model, dm, 30)
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.5, losses


def test_synthesis_with_weight_noise_samples_one_weight_set_per_batch(tiny_hw_data: Path) -> None:
    torch.manual_seed(0)
    model, dm = _model("synthesis", tiny_hw_data / "handwriting_hershey", weight_noise=True)
    batch = collate_lines(dm.read_lines("train", 3))
    model.train()
    a = model.run_network(batch).mu
    b = model.run_network(batch).mu
    assert not torch.allclose(a, b), "training draws new weights every minibatch"
    model.eval()
    torch.testing.assert_close(model.run_network(batch).mu, model.run_network(batch).mu)
    torch.testing.assert_close(model.run_network(batch).mu, model.net(batch.offsets[:, :-1], batch.chars, batch.char_mask)[0].mu)


def test_paper_gradient_clipping_bounds_the_backward_signal() -> None:
    torch.manual_seed(0)
    x, chars, char_mask, mask = _batch()
    grads = {}
    for name, clip in (("free", None), ("clipped", 1e-4)):
        torch.manual_seed(0)
        net = SynthesisNet(9, HandwritingSynthesisConfig(hidden_size=16, num_layers=3, window_components=3, mixture_components=4, kappa_scale=1.0, clip_lstm_grad=clip, clip_output_grad=clip))
        params, _, _ = net(x[:, :-1], chars, char_mask)
        (mixture_nll(params, x[:, 1:], mask, reduction="seq_mean") * 1e3).backward()
        grads[name] = torch.cat([p.grad.flatten() for p in net.parameters()]).abs().max()
    assert grads["clipped"] < grads["free"] * 1e-3


def test_vocab_all_printable_chars_are_writable_by_the_model(tiny_hw_data: Path) -> None:
    model, _ = _model("synthesis", tiny_hw_data / "handwriting_hershey")
    assert set(model.vocab) <= set(string.printable)
    assert model.net.vocab_size == len(model.vocab)
