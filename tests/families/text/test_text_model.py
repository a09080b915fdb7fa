"""The text network: skip connections, truncated BPTT with carried state, learning, sampling."""

from __future__ import annotations


import pytest
import torch

from seqgen.errors import SeqgenError
from seqgen.families.text.module import TextLSTM
from seqgen.nn.lstm_stack import SkipLSTMStack
from seqgen.families.text.generate import sample_text

VOCAB = {"kind": "char", "symbols": sorted(ord(c) for c in set("abc xyz.\n"))}
OPTIM = {"optimizer": {"_target_": "torch.optim.Adam", "lr": 0.01}}


def make_model(**kwargs) -> TextLSTM:  # type: ignore[no-untyped-def]
    return TextLSTM({"vocab": VOCAB}, hidden_size=kwargs.pop("hidden_size", 24), num_layers=kwargs.pop("num_layers", 3), optim=OPTIM, **kwargs)


def test_skip_stack_shapes_and_every_layer_reaches_the_output() -> None:
    stack = SkipLSTMStack(input_size=5, hidden_size=7, num_layers=3)
    x = torch.randn(2, 11, 5, requires_grad=True)
    out, state = stack(x)
    assert out.shape == (2, 11, 21) and len(state) == 3
    # the input feeds every layer: layer 3's slice of the output depends on x directly
    assert stack.layers[2].input_size == 5 + 7
    out[..., 14:].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_paper_sized_wikipedia_model_has_about_21m_weights() -> None:
    model = TextLSTM({"vocab": {"kind": "byte", "symbols": list(range(205))}}, hidden_size=700, num_layers=5, optim=OPTIM)
    count = sum(p.numel() for p in model.parameters())
    assert 20e6 < count < 22.5e6, count


def test_state_is_carried_between_segments_and_reset_on_new_streams() -> None:
    model = make_model()
    ids = torch.randint(0, len(VOCAB["symbols"]), (2, 21))
    batch = {"inputs": ids[:, :10], "targets": ids[:, 1:11], "reset": True}
    model.compute_loss(batch)
    carried = model._state
    assert carried is not None and not carried[0][0].requires_grad
    loss_carried, _ = model.compute_loss({"inputs": ids[:, 10:20], "targets": ids[:, 11:21], "reset": False})
    loss_reset, _ = model.compute_loss({"inputs": ids[:, 10:20], "targets": ids[:, 11:21], "reset": True})
    assert not torch.isclose(loss_carried, loss_reset)


def test_loss_falls_on_a_repetitive_stream() -> None:
    torch.manual_seed(0)
    model = make_model(hidden_size=32, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    text = torch.tensor(model.vocab.encode("abc xyz. " * 40))
    losses = []
    for step in range(60):
        start = (step * 10) % (len(text) - 31)
        chunk = text[start : start + 31].unsqueeze(0)
        loss, _ = model.compute_loss({"inputs": chunk[:, :-1], "targets": chunk[:, 1:], "reset": True})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_sampling_prime_temperature_and_batches() -> None:
    model = make_model()
    gen = torch.Generator().manual_seed(0)
    samples = sample_text(model, "abc", length=25, temperature=0.5, num_samples=3, generator=gen)
    assert len(samples) == 3 and all(s.startswith("abc") and len(s) == 28 for s in samples)
    again = sample_text(model, "abc", length=25, temperature=0.5, num_samples=3, generator=torch.Generator().manual_seed(0))
    assert samples == again
    with pytest.raises(SeqgenError, match="'Q'"):
        sample_text(model, "Q", length=5)
    with pytest.raises(SeqgenError, match="temperature"):
        sample_text(model, "a", temperature=0)


def test_low_temperature_is_greedy_like() -> None:
    model = make_model()
    with torch.no_grad():  # a model with clear preferences, as after training
        model.head.bias.copy_(torch.linspace(0, 3, len(VOCAB["symbols"])))
    cold = {s for s in (sample_text(model, "a", 20, temperature=0.01, generator=torch.Generator().manual_seed(i))[0] for i in range(4))}
    hot = {s for s in (sample_text(model, "a", 20, temperature=5.0, generator=torch.Generator().manual_seed(i))[0] for i in range(4))}
    assert len(cold) == 1 and len(hot) > 1


def test_onehot_gather_equals_the_onehot_matmul_with_state_and_gradients() -> None:
    """One-hot inputs: the gathered input projections + LSTMRecurrence give the outputs, final state
    and gradients of nn.LSTM fed one_hot(ids) (float64, state carried into a second segment)."""
    torch.manual_seed(0)
    stack = SkipLSTMStack(11, 8, 3).double()
    ids = torch.randint(0, 11, (4, 9))
    ids2 = torch.randint(0, 11, (4, 5))
    params = list(stack.parameters())
    results = []
    for gather in (True, False):
        def run(chunk: torch.Tensor, state):  # noqa: ANN001, ANN202
            if gather:
                return stack(None, state, ids=chunk)
            return stack(torch.nn.functional.one_hot(chunk, 11).double(), state)

        out1, state = run(ids, None)
        out2, state2 = run(ids2, state)
        loss = out1.square().sum() + (out2 * torch.linspace(-1, 1, out2.shape[-1], dtype=torch.float64)).sum() + state2[1][1].sum()
        results.append((out1, out2, state2, torch.autograd.grad(loss, params)))
    (a1, a2, sa, ga), (b1, b2, sb, gb) = results
    torch.testing.assert_close(a1, b1, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(a2, b2, rtol=1e-10, atol=1e-12)
    for (ha, ca), (hb, cb) in zip(sa, sb):
        torch.testing.assert_close(ha, hb, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ca, cb, rtol=1e-10, atol=1e-12)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_lstm_recurrence_gradcheck() -> None:
    from seqgen.nn.lstm_stack import LSTMRecurrence

    torch.manual_seed(1)
    xproj = torch.randn(4, 2, 12, dtype=torch.float64, requires_grad=True)
    weight = (torch.randn(12, 3, dtype=torch.float64) * 0.5).requires_grad_()
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: LSTMRecurrence.apply(*a), (xproj, weight, h0, c0))


def test_default_prime_only_where_the_vocabulary_writes_it() -> None:
    """`seqgen-sample ckpt=<run>` with its defaults works on a corpus without a capital T (the
    end-of-run summary prints that command); a prime the user gives is still checked."""
    from seqgen.data.text.vocab import Vocabulary
    from seqgen.families.text.generate import DEFAULT_PRIME, default_prime

    assert default_prime(Vocabulary(map(ord, "The cat"), "char")) == DEFAULT_PRIME
    assert default_prime(Vocabulary(map(ord, "it was the best of times"), "char")) == ""
    assert default_prime(Vocabulary(b"The end", "byte")) == DEFAULT_PRIME
