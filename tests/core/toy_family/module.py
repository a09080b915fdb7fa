"""Module (checklist step 1): next-symbol cross-entropy with a GRU, L = -mean_t log p(x_t | x_<t)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from seqgen.core.module import SeqModule

from toy_family.config import ToyModelConfig


class ToyNet(nn.Module):
    def __init__(self, vocab_size: int, config: ToyModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, config.hidden_size)
        self.rnn = nn.GRU(config.hidden_size, config.hidden_size, batch_first=True)
        self.out = nn.Linear(config.hidden_size, vocab_size)

    def forward(self, symbols: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, state = self.rnn(self.embed(symbols), state)
        return self.out(hidden), state


class ToyModel(SeqModule):
    family = "toy"
    monitor = "val/loss"
    unit_name = "symbols"
    config_class = ToyModelConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        self.vocab_size = int(data_info["vocab_size"])
        self.net = ToyNet(self.vocab_size, self.config)
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()

    def nats(self, batch: torch.Tensor) -> torch.Tensor:
        logits, _ = self.net(batch[:, :-1])
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), batch[:, 1:].reshape(-1))

    def batch_units(self, batch: torch.Tensor) -> int:
        return int(batch.numel())

    def compute_loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self.nats(batch)
        return loss, {"loss": loss.detach()}

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.val_loss.update(self.nats(batch), weight=len(batch))

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.test_loss.update(self.nats(batch), weight=len(batch))

    def on_validation_epoch_end(self) -> None:
        self.log("val/loss", self.val_loss.compute(), prog_bar=True)
        self.val_loss.reset()

    def on_test_epoch_end(self) -> None:
        self.log("test/loss", self.test_loss.compute())
        self.test_loss.reset()
