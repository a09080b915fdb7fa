"""SpeechSynthesis: the Lightning module of the speech family (loss, metrics, forward only).

Loss: the mixture density negative log-likelihood of each frame given the previous ones, the
symbols and the speaker, in nats per frame (`val/nll`, monitored), also logged per utterance and
per feature dimension. Generation, figures and the report live in generate.py, figures.py and
report.py of this folder, reached through the family object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import SumMetric

from seqgen.errors import SeqgenError
from seqgen.families.speech.datamodule import SymbolTable
from seqgen.families.speech.features import FeatureSpec
from seqgen.families.speech.nets import SpeechSynthesisNet
from seqgen.nn.mdn import DiagonalParams
from seqgen.nn.window import WINDOW_KINDS
from seqgen.core.module import SeqModule


class SpeechSynthesis(SeqModule):
    family = "speech"
    monitor = "val/nll"
    unit_name = "frames"

    def __init__(
        self,
        data_info: dict[str, Any],
        hidden_size: int = 256,
        num_layers: int = 2,
        window_components: int = 5,
        mixture_components: int = 5,
        speaker_dim: int = 16,
        window: str = "softplus",
        kappa_scale: float = 5.0,
        max_step: float = 1.0,
        input_dropout: float = 0.0,
        max_frames_per_symbol: float = 30.0,
        max_sample_frames: int = 2000,
        preview_bias: float = 1.0,
        optim: Any = None,
        max_nonfinite_steps: int = 25,
    ) -> None:
        super().__init__(optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        if data_info.get("family") not in (None, "speech"):
            raise SeqgenError(f"a speech model needs speech data, got '{data_info.get('family')}' data")
        if window not in WINDOW_KINDS:
            raise SeqgenError(f"model.window={window!r}: use one of {', '.join(WINDOW_KINDS)}")
        for key, value, low in (("hidden_size", hidden_size, 1), ("num_layers", num_layers, 1), ("window_components", window_components, 1),
                                ("mixture_components", mixture_components, 1), ("max_sample_frames", max_sample_frames, 1)):
            if int(value) < low:
                raise SeqgenError(f"model.{key}={value}: must be >= {low}")
        if not kappa_scale > 0 or not max_step > 0 or not max_frames_per_symbol > 0:
            raise SeqgenError("model.kappa_scale, model.max_step and model.max_frames_per_symbol must be > 0")
        if not 0 <= input_dropout < 1:
            raise SeqgenError(f"model.input_dropout={input_dropout}: must be in [0, 1)")
        self.save_hyperparameters()
        self.spec = FeatureSpec.from_dict(data_info["features"])
        self.table = SymbolTable(data_info, str(data_info.get("units") or "phonemes"))
        self.mean = np.asarray(data_info["norm"]["mean"], dtype=np.float32)
        self.std = np.asarray(data_info["norm"]["std"], dtype=np.float32)
        self.primes: list[dict[str, Any]] = list(data_info.get("primes") or [])
        self.net = SpeechSynthesisNet(
            self.spec.dim, self.table.size, len(self.table.speakers) + 1, hidden_size, num_layers, window_components,
            mixture_components, speaker_dim, window, kappa_scale, max_step, input_dropout,
        )
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

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        params, _ = self.run_network(batch)
        nll = self.net.head.nll(params, batch["frames"], batch["mask"], reduction="mean")
        utterances = batch["mask"].shape[0]
        frames = batch["mask"].sum().clamp_min(1)
        logs = {
            "loss": nll.detach(),
            "nll": nll.detach(),
            "nll_per_utterance": nll.detach() * frames / utterances,
            "nll_per_dim": nll.detach() / self.spec.dim,
        }
        return nll, logs

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
