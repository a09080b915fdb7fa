"""Image models: causality of the density nets, wavefront sampling == raster sampling, sample ranges."""

from __future__ import annotations

import pytest
import torch

from seqgen.families.image import generate
from seqgen.families.image.module import ImageClassifier, ImageMDLSTM, ImageRowLSTM

INFO = {"height": 5, "width": 6, "channels": 1, "num_classes": 10, "corpus": "test"}


def _model(cls: type, levels: int, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return cls({**INFO, "levels": levels}, hidden_size=6, num_layers=2, **kwargs)


@pytest.mark.parametrize("cls,kwargs", [(ImageMDLSTM, {}), (ImageRowLSTM, {"kernel": 3})])
def test_density_nets_are_causal(cls: type, kwargs: dict) -> None:
    model = _model(cls, 4, **kwargs)
    images = torch.randint(0, 4, (1, 5, 6))
    base = model(images)
    for i, j in [(0, 0), (2, 3), (4, 5)]:
        changed = images.clone()
        changed[0, i, j] = (changed[0, i, j] + 1) % 4
        moved = (model(changed) - base).abs().amax(-1)[0] > 0
        raster = torch.arange(30).view(5, 6)
        assert not moved[raster <= i * 6 + j].any(), (i, j)  # that pixel and all before it: unchanged


def _recording_draw(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    real = generate.draw

    def draw(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        seen.append(logits.clone())
        return real(logits, temperature, generator)

    monkeypatch.setattr(generate, "draw", draw)
    return seen


@pytest.mark.parametrize("levels", [2, 5])
def test_wavefront_sampling_uses_the_model_conditionals(monkeypatch: pytest.MonkeyPatch, levels: int) -> None:
    """The logits each diagonal is drawn from equal a full pass of the net over the finished
    samples: the wavefront sampler draws exactly from p(x_ij | x_<ij)."""
    seen = _recording_draw(monkeypatch)
    model = _model(ImageMDLSTM, levels)
    images = generate.sample_images(model, 3, 1.0, torch.Generator().manual_seed(1))
    assert images.unique().numel() == levels  # a non-trivial image
    plan = model.net.layers[0].plan((5, 6), images.device)
    drawn = torch.cat(seen, 0).index_select(0, plan.inverse)  # (H*W, n, out), raster order
    with torch.no_grad():
        full = model(images).flatten(1, 2).transpose(0, 1)
    torch.testing.assert_close(drawn, full, rtol=1e-5, atol=1e-5)


def test_row_sampler_uses_the_model_conditionals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same for the Row LSTM's row-at-a-time sampler: pixel by pixel, raster order."""
    seen = _recording_draw(monkeypatch)
    model = _model(ImageRowLSTM, 5, kernel=5)
    images = generate.sample_images(model, 3, 1.0, torch.Generator().manual_seed(1))
    assert images.unique().numel() > 2
    with torch.no_grad():
        full = model(images).flatten(1, 2).transpose(0, 1)
    torch.testing.assert_close(torch.stack(seen, 0), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [ImageMDLSTM, ImageRowLSTM])
@pytest.mark.parametrize("levels", [2, 7])
def test_samples_shape_range_and_completion(cls: type, levels: int) -> None:
    model = _model(cls, levels, **({"kernel": 3} if cls is ImageRowLSTM else {}))
    gen = torch.Generator().manual_seed(0)
    samples = generate.sample_images(model, 4, 1.0, gen)
    assert samples.shape == (4, 5, 6) and samples.dtype == torch.long
    assert samples.min() >= 0 and samples.max() < levels
    known = torch.randint(0, levels, (4, 5, 6))
    mask = generate.top_half_mask(5, 6)
    completed = generate.sample_images(model, 4, 1.0, gen, known=known, known_mask=mask)
    assert torch.equal(completed[:, mask], known[:, mask])
    assert model.training  # sampling restores the training mode


def test_classifier_output() -> None:
    model = _model(ImageClassifier, 17, patch=2)
    logits = model(torch.randint(0, 17, (3, 5, 6)))
    assert logits.shape == (3, 10)
    loss, logs = model.compute_loss({"images": torch.randint(0, 17, (3, 5, 6)), "labels": torch.tensor([1, 2, 3])})
    assert loss.requires_grad and 0 <= float(logs["accuracy"]) <= 1


def test_family_registry() -> None:
    from seqgen.core.family import get_family

    family = get_family("image")
    assert family.module_class("ImageMDLSTM") is ImageMDLSTM
    assert family.module_class("seqgen.families.image.module.ImageClassifier") is ImageClassifier
    assert family.sample_options == {"temperature"}
