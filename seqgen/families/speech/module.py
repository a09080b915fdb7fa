"""SpeechSynthesis: the Lightning module of the speech family (loss, metrics, forward only).

Loss: the mixture density negative log-likelihood of each frame given the previous ones, the
symbols and the speaker, in nats per frame (`val/nll`, monitored), also logged per utterance and
per feature dimension. With `align_weight` = lambda > 0 (phoneme units), plus the window's
alignment to the corpus's exact phone boundaries (u_t = the phone frame t belongs to):

    L = NLL + lambda * L_align,   L_align = -(1/T) sum_t log( phi(t, u_t) / sum_u phi(t, u) )

Graves's window learns where it is from the NLL alone, slowly; the boundaries come free with both
corpora (espeak-ng's phoneme events, TIMIT's .PHN), and supervising the window with them teaches
the alignment (and the durations the window then moves at when sampling) in a few hundred steps. Generation, figures and the report live in generate.py, figures.py and
report.py of this folder, reached through the family object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import SumMetric

from seqgen.errors import SeqgenError
from seqgen.families.speech.config import SpeechSynthesisConfig
from seqgen.families.speech.datamodule import SymbolTable
from seqgen.families.speech.features import FeatureSpec
from seqgen.families.speech.nets import SpeechSynthesisNet
from seqgen.nn.mdn import DiagonalParams
from seqgen.core.module import SeqModule


class SpeechSynthesis(SeqModule):
    family = "speech"
    monitor = "val/nll"
    unit_name = "frames"

    config_class = SpeechSynthesisConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        if data_info.get("family") not in (None, "speech"):
            raise SeqgenError(f"a speech model needs speech data, got '{data_info.get('family')}' data")
        if self.config.align_weight > 0 and str(data_info.get("units") or "phonemes") != "phonemes":
            raise SeqgenError("model.align_weight needs data.datamodule.units=phonemes: the corpus gives phone boundaries, not character ones")
        self.spec = FeatureSpec.from_dict(data_info["features"])
        self.table = SymbolTable(data_info, str(data_info.get("units") or "phonemes"))
        self.mean = np.asarray(data_info["norm"]["mean"], dtype=np.float32)
        self.std = np.asarray(data_info["norm"]["std"], dtype=np.float32)
        self.primes: list[dict[str, Any]] = list(data_info.get("primes") or [])
        self.net = SpeechSynthesisNet(self.spec.dim, self.table.size, len(self.table.speakers) + 1, self.config, self.spec.voicing_index)
        self.eval_metrics = nn.ModuleDict(
            {f"{stage}_{name}": SumMetric() for stage in ("val", "test") for name in ("nats", "frames", "utterances")}
        )

    # --- forward -------------------------------------------------------------------------------
    def run_network(self, batch: dict[str, Any], return_phi: bool = False) -> tuple[DiagonalParams, Any]:
        x = self.net.inputs(batch["frames"], batch["speakers"])
        params, _, phi = self.net(x, batch["symbols"], batch["symbol_mask"], return_phi=return_phi)
        return params, phi

    def batch_units(self, batch: dict[str, Any]) -> int:
        return int(batch["mask"].sum())

    def alignment_loss(self, phi: torch.Tensor, frame_phone: torch.Tensor) -> torch.Tensor:
        """L_align (module docstring): phi (B, T, U) window weights, frame_phone (B, T) targets (-1: none)."""
        valid = frame_phone >= 0
        target = phi.gather(-1, frame_phone.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        log_p = torch.log(target + 1e-6) - torch.log(phi.sum(-1) + 1e-6 * phi.shape[-1])
        return -(log_p * valid).sum() / valid.sum().clamp_min(1)

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        align_weight = float(self.hparams.align_weight)
        params, phi = self.run_network(batch, return_phi=align_weight > 0)
        nll = self.net.head.nll(params, batch["frames"], batch["mask"], reduction="mean")
        utterances = batch["mask"].shape[0]
        frames = batch["mask"].sum().clamp_min(1)
        logs = {
            "nll": nll.detach(),
            "nll_per_utterance": nll.detach() * frames / utterances,
            "nll_per_dim": nll.detach() / self.spec.dim,
        }
        loss = nll
        if align_weight > 0:
            align = self.alignment_loss(phi, batch["frame_phone"])
            loss = nll + align_weight * align
            logs["align"] = align.detach()
        logs["loss"] = loss.detach()
        return loss, logs

    # --- evaluation ----------------------------------------------------------------------------
    def _evaluate(self, batch: dict[str, Any], stage: str) -> None:
        params, _ = self.run_network(batch)
        self.eval_metrics[f"{stage}_nats"].update(self.net.head.nll(params, batch["frames"], batch["mask"], reduction="sum").double())
        self.eval_metrics[f"{stage}_frames"].update(batch["mask"].sum().double())
        self.eval_metrics[f"{stage}_utterances"].update(torch.tensor(float(batch["mask"].shape[0]), dtype=torch.float64))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _log_stage(self, stage: str) -> None:
        nats = self.eval_metrics[f"{stage}_nats"].compute()
        frames = self.eval_metrics[f"{stage}_frames"].compute().clamp_min(1)
        utts = self.eval_metrics[f"{stage}_utterances"].compute().clamp_min(1)
        self.log(f"{stage}/nll", (nats / frames).float(), prog_bar=True)
        self.log(f"{stage}/nll_per_dim", (nats / frames / self.spec.dim).float())
        self.log(f"{stage}/nll_per_utterance", (nats / utts).float())
        for name in ("nats", "frames", "utterances"):
            self.eval_metrics[f"{stage}_{name}"].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")

    # --- units ---------------------------------------------------------------------------------
    def denormalise(self, frames: np.ndarray) -> np.ndarray:
        return np.asarray(frames, dtype=np.float32) * self.std + self.mean
