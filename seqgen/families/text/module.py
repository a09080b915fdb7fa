"""Character-level text prediction (Graves 2013, Section 3): skip-connected LSTM stack + softmax.

Loss: cross-entropy in nats per symbol; reported as bits per character, BPC = nats / ln 2.
Training is truncated BPTT over consecutive segments of the same streams (state carried over).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import SumMetric

from seqgen.data.text.vocab import Vocabulary
from seqgen.core.module import SeqModule
from seqgen.families.text.config import TextLSTMConfig
from seqgen.nn.lstm_stack import SkipLSTMStack, State, detach_state

LN2 = math.log(2.0)


class TextLSTM(SeqModule):
    family = "text"
    monitor = "val/bpc"
    unit_name = "chars"

    config_class = TextLSTMConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        hidden_size, num_layers, embed_dim, dropout = (self.config.hidden_size, self.config.num_layers, self.config.embed_dim,
                                                       self.config.dropout)
        self.vocab = Vocabulary.from_dict(data_info["vocab"])
        vocab_size = len(self.vocab)
        # embed_dim=None: one-hot inputs, exactly the paper's input layer.
        self.embed = nn.Embedding(vocab_size, embed_dim) if embed_dim else None
        input_size = embed_dim or vocab_size
        self.lstm = SkipLSTMStack(input_size, hidden_size, num_layers, dropout)
        self.head = nn.Linear(self.lstm.output_size, vocab_size)
        self.vocab_size = vocab_size
        self._state: State | None = None  # carried across training segments
        self.val_nats, self.val_count = SumMetric(), SumMetric()
        self.test_nats, self.test_count = SumMetric(), SumMetric()

    # --- model ----------------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if self.embed is None:  # one-hot inputs: every layer's input matmul is a column gather (SkipLSTMStack)
            hidden, state = self.lstm(None, state, ids=ids)
        else:
            hidden, state = self.lstm(self.embed(ids), state)
        return self.head(hidden), state

    # --- training -------------------------------------------------------------------------------
    def batch_units(self, batch: dict[str, Any]) -> int:
        return int(batch["targets"].numel())

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        state = None if batch["reset"] or self._state is None else self._state
        if state is not None and state[0][0].shape[1] != batch["inputs"].shape[0]:
            state = None
        logits, new_state = self(batch["inputs"], state)
        self._state = detach_state(new_state)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), batch["targets"].reshape(-1))
        return loss, {"loss": loss.detach(), "bpc": loss.detach() / LN2}

    # --- evaluation: whole streams, state carried through, every symbol counted once ------------
    def _evaluate(self, batch: dict[str, torch.Tensor], nats: SumMetric, count: SumMetric) -> None:
        tokens, lengths = batch["tokens"], batch["lengths"]
        positions = torch.arange(tokens.shape[1] - 1, device=tokens.device)
        mask = positions[None, :] < (lengths[:, None] - 1)
        state = None
        total = tokens.new_zeros((), dtype=torch.float64)
        for start in range(0, tokens.shape[1] - 1, self.config.eval_segment_length):
            stop = min(start + self.config.eval_segment_length, tokens.shape[1] - 1)
            logits, state = self(tokens[:, start:stop], state)
            losses = F.cross_entropy(logits.transpose(1, 2), tokens[:, start + 1 : stop + 1], reduction="none")
            total = total + (losses * mask[:, start:stop]).sum().double()
        nats.update(total)
        count.update(mask.sum().double())

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.val_nats, self.val_count)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.test_nats, self.test_count)

    def _log_bpc(self, stage: str, nats: SumMetric, count: SumMetric) -> None:
        total, symbols = nats.compute(), count.compute()
        self.log(f"{stage}/bpc", (total / symbols.clamp_min(1) / LN2).float(), prog_bar=True, sync_dist=False)
        self.log(f"{stage}/symbols", symbols.float(), sync_dist=False)
        nats.reset()
        count.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_bpc("val", self.val_nats, self.val_count)

    def on_test_epoch_end(self) -> None:
        self._log_bpc("test", self.test_nats, self.test_count)

    # --- dynamic evaluation (seqgen.eval.dynamic): the loss of one segment from a carried state --
    def segment_loss(self, segment: dict[str, torch.Tensor], state: State | None) -> tuple[torch.Tensor, torch.Tensor, State]:
        """segment: inputs, targets (B, L) ids and mask (B, L), False where a target is not scored
        (past a stream's end, or a byte outside the vocabulary) -> (summed nats, scored symbols, state)."""
        logits, state = self(segment["inputs"], state)
        nats = F.cross_entropy(logits.transpose(1, 2), segment["targets"], reduction="none")
        mask = segment["mask"]
        return (nats * mask).sum(), mask.sum(), state

    # --- checkpoints: the carried state makes a resumed run continue exactly --------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self._state is not None:
            checkpoint["text_state"] = [(h.cpu(), c.cpu()) for h, c in self._state]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("text_state")
        self._state = [(h.to(self.device), c.to(self.device)) for h, c in state] if state else None
