"""Lightning modules of the image family: two density models and a classifier (loss, metrics, forward).

Density models (p(x) = prod_ij p(x_ij | pixels before it)):
  binary images: Bernoulli, NLL in nats per image  = -sum_ij log p(x_ij | x_<ij)
  grey images:   softmax over L levels, bits per dimension = NLL / (H W ln 2)
Training minimises the mean NLL per pixel (nats); validation/test sum over whole images.
`val/nll` (the checkpoint metric) is nats/image for binary data and bits/dim for grey data.

Classifier: cross-entropy over the classes; accuracy on the validation/test splits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy

from seqgen.errors import SeqgenError
from seqgen.families.image.nets import CausalMDLSTMNet, MDLSTMClassifierNet, RowLSTMNet
from seqgen.core.module import SeqModule

LN2 = math.log(2.0)
OUTPUTS = ("auto", "bernoulli", "softmax")


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if int(value) < 1:
            raise SeqgenError(f"model.{key}={value}: must be >= 1")


class ImageDensityModule(SeqModule):
    """Shared loss and metrics of the generative models; subclasses build `self.net`."""

    family = "image"
    monitor = "val/nll"
    unit_name = "pixels"

    def __init__(self, data_info: dict[str, Any], output: str = "auto", preview_count: int = 16, preview_temperature: float = 1.0,
                 optim: Any = None, max_nonfinite_steps: int = 25) -> None:
        super().__init__(optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        if output not in OUTPUTS:
            raise SeqgenError(f"model.output={output!r}: use one of {', '.join(OUTPUTS)}")
        self.levels = int(data_info["levels"])
        self.height, self.width = int(data_info["height"]), int(data_info["width"])
        if int(data_info.get("channels", 1)) != 1:
            raise SeqgenError(f"the data has {data_info['channels']} channels; the image models take single-channel images")
        if output == "bernoulli" and self.levels != 2:
            raise SeqgenError(
                f"model.output=bernoulli needs binary data but the prepared images have {self.levels} levels: "
                "prepare with data.prepare.mode=binary, or use model.output=softmax"
            )
        if output == "softmax" and self.levels == 2:
            raise SeqgenError("model.output=softmax on binary data: use model.output=bernoulli (or auto)")
        self.binary = self.levels == 2
        self.val_nats, self.val_images = SumMetric(), SumMetric()
        self.test_nats, self.test_images = SumMetric(), SumMetric()

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.height, self.width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def check_batch(self, images: torch.Tensor) -> None:
        if images.dim() != 3 or tuple(images.shape[1:]) != self.image_shape:
            raise SeqgenError(f"images of shape {tuple(images.shape[1:])}, the model was built for {self.image_shape} single-channel images")
        if images.min() < 0 or images.max() >= self.levels:
            kind = "non-binary data for a Bernoulli model" if self.binary else f"pixel values outside 0..{self.levels - 1}"
            raise SeqgenError(f"{kind} (values {int(images.min())}..{int(images.max())}): re-run `seqgen-prepare` for this model's data")

    def image_nats(self, images: torch.Tensor) -> torch.Tensor:
        """-log p(x) in nats for each image: (B,)."""
        self.check_batch(images)
        logits = self(images)
        if self.binary:
            nats = F.binary_cross_entropy_with_logits(logits[..., 0], images.to(logits.dtype), reduction="none")
        else:
            nats = F.cross_entropy(logits.permute(0, 3, 1, 2), images, reduction="none")
        return nats.flatten(1).sum(1)

    def batch_units(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["images"].numel())

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        nats = self.image_nats(batch["images"])
        pixels = self.height * self.width
        loss = nats.mean() / pixels
        return loss, {"loss": loss.detach(), "nats_per_image": nats.mean().detach(), "bits_per_dim": loss.detach() / LN2}

    def _evaluate(self, batch: dict[str, torch.Tensor], nats: SumMetric, images: SumMetric) -> None:
        values = self.image_nats(batch["images"])
        nats.update(values.double().sum())
        images.update(float(len(values)))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.val_nats, self.val_images)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.test_nats, self.test_images)

    def _log_nll(self, stage: str, nats: SumMetric, images: SumMetric) -> None:
        per_image = (nats.compute() / images.compute().clamp_min(1)).float()
        bits_per_dim = per_image / (self.height * self.width * LN2)
        self.log(f"{stage}/nats_per_image", per_image)
        self.log(f"{stage}/bits_per_dim", bits_per_dim)
        self.log(f"{stage}/nll", per_image if self.binary else bits_per_dim, prog_bar=True)
        self.log(f"{stage}/images", images.compute().float())
        nats.reset()
        images.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_nll("val", self.val_nats, self.val_images)

    def on_test_epoch_end(self) -> None:
        self._log_nll("test", self.test_nats, self.test_images)


class ImageMDLSTM(ImageDensityModule):
    """Causal (top-left) 2D LSTM density model, sampled by anti-diagonal wavefronts."""

    def __init__(self, data_info: dict[str, Any], hidden_size: int = 64, num_layers: int = 1, **kwargs: Any) -> None:
        super().__init__(data_info, **kwargs)
        _check_positive(hidden_size=hidden_size, num_layers=num_layers)
        self.save_hyperparameters()
        self.net = CausalMDLSTMNet(self.levels, hidden_size, num_layers)


class ImageRowLSTM(ImageDensityModule):
    """PixelRNN's Row LSTM (the peer architecture), sampled pixel by pixel."""

    def __init__(self, data_info: dict[str, Any], hidden_size: int = 32, num_layers: int = 2, kernel: int = 7, **kwargs: Any) -> None:
        super().__init__(data_info, **kwargs)
        _check_positive(hidden_size=hidden_size, num_layers=num_layers, kernel=kernel)
        if kernel % 2 == 0:
            raise SeqgenError(f"model.kernel={kernel}: the masked convolution needs an odd kernel size")
        self.save_hyperparameters()
        self.net = RowLSTMNet(self.levels, hidden_size, num_layers, kernel)


class ImageClassifier(SeqModule):
    """4-direction 2D-LSTM digit classifier: cross-entropy, accuracy."""

    family = "image"
    monitor = "val/loss"
    unit_name = "images"

    def __init__(self, data_info: dict[str, Any], hidden_size: int = 16, num_layers: int = 1, patch: int = 1,
                 optim: Any = None, max_nonfinite_steps: int = 25) -> None:
        super().__init__(optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        _check_positive(hidden_size=hidden_size, num_layers=num_layers, patch=patch)
        self.save_hyperparameters()
        self.num_classes = int(data_info.get("num_classes") or 0)
        if self.num_classes < 2:
            raise SeqgenError(
                f"model=image_classifier needs labelled images, but {data_info.get('corpus')} has no labels: "
                "use data=image_digits, data=fashion_mnist or IDX files with labels"
            )
        self.levels = int(data_info["levels"])
        self.height, self.width = int(data_info["height"]), int(data_info["width"])
        self.net = MDLSTMClassifierNet(self.levels, self.num_classes, hidden_size, num_layers, patch)
        self.accuracy = {stage: MulticlassAccuracy(self.num_classes, average="micro") for stage in ("val", "test")}
        self.val_accuracy, self.test_accuracy = self.accuracy["val"], self.accuracy["test"]  # registered as children
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def batch_units(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["images"].shape[0])

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self(batch["images"])
        loss = F.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        return loss, {"loss": loss.detach(), "accuracy": accuracy.detach()}

    def _evaluate(self, stage: str, batch: dict[str, torch.Tensor]) -> None:
        logits = self(batch["images"])
        getattr(self, f"{stage}_loss").update(F.cross_entropy(logits, batch["labels"]), weight=len(logits))
        self.accuracy[stage].update(logits, batch["labels"])

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate("test", batch)

    def _log(self, stage: str) -> None:
        loss_metric = getattr(self, f"{stage}_loss")
        self.log(f"{stage}/loss", loss_metric.compute(), prog_bar=True)
        self.log(f"{stage}/accuracy", self.accuracy[stage].compute(), prog_bar=True)
        loss_metric.reset()
        self.accuracy[stage].reset()

    def on_validation_epoch_end(self) -> None:
        self._log("val")

    def on_test_epoch_end(self) -> None:
        self._log("test")
