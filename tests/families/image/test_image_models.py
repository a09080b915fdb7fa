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


def test_wavefront_sampling_equals_raster_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Greedy (argmax) decoding by diagonals and by raster passes of the full net give one image:
    the wavefront sampler computes exactly p(x_ij | x_<ij)."""
    monkeypatch.setattr(generate, "draw", lambda logits, temperature, generator: logits.argmax(-1))
    for levels in (2, 5):
        model = _model(ImageMDLSTM, levels)
        if levels == 2:  # argmax over one logit is always 0: use the sign instead
            monkeypatch.setattr(generate, "draw", lambda logits, t, g: (logits[..., 0] > 0).long())
        fast = generate._sample_wavefront(model.net, torch.zeros(3, 5, 6, dtype=torch.long), 1.0, None, None)
        slow = generate._sample_raster(model.net, torch.zeros(3, 5, 6, dtype=torch.long), 1.0, None, None)
        assert torch.equal(fast, slow)


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
