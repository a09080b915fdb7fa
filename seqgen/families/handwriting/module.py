"""Handwriting prediction (Graves 2013, Sec. 4) and synthesis (Sec. 5) as Lightning modules.

Loss: the mixture density negative log-likelihood in nats *per sequence* (the paper's unit,
``mixture_nll(..., reduction="seq_mean")``); also logged per point, and the squared error of the
mixture mean per point (the paper's SSE column). `val/nll` (nats per line, validation split) is
the monitored metric. Options shared by both families:

* ``weight_noise``: adaptive weight noise (Graves 2011) over every weight, initial std 0.075.
  One weight sample per minibatch (the paper: one per sequence); the complexity loss KL(Q||P) is
  spread over the epoch: per line it is KL / (number of training lines), added to the per-line loss.
* ``clip_lstm_grad`` / ``clip_output_grad``: the paper's derivative clipping ([-10, 10] inside
  the LSTM layers, [-100, 100] at the network outputs); see `seqgen.families.handwriting.nets`.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch
from torch import nn
from torchmetrics import SumMetric

from seqgen.data.handwriting.batch import HandwritingBatch
from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.core.module import SeqModule
from seqgen.families.handwriting.config import HandwritingPredictionConfig, HandwritingSynthesisConfig
from seqgen.families.handwriting.nets import PredictionNet, SynthesisNet
from seqgen.nn.mdn import MixtureParams, mixture_nll, sum_squared_error
from seqgen.nn.weight_noise import AdaptiveWeightNoise

log = logging.getLogger(__name__)


class HandwritingModel(SeqModule):
    """Shared by both networks: data info, optional weight noise, losses, metrics."""

    family = "handwriting"
    monitor = "val/nll"
    unit_name = "points"

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        if data_info.get("family") not in (None, "handwriting"):
            raise SeqgenError(f"a handwriting model needs handwriting data, got '{data_info.get('family')}' data")
        self.norm = NormStats.from_dict(data_info["norm"])
        self.vocab: list[str] = list(data_info["vocab"]["chars"])
        self.train_styles: list[dict[str, Any]] = list(data_info.get("styles") or [])
        self.n_train_lines = max(int(data_info.get("train_lines") or 1), 1)
        self.eval_metrics = nn.ModuleDict(
            {
                f"{stage}_{name}": SumMetric()
                for stage in ("val", "test")
                for name in ("nats", "points", "lines", "sse")
            }
        )

    # --- network -------------------------------------------------------------------------------
    def _wrap(self, net: nn.Module) -> None:
        """`weight_noise`: the network behind adaptive weight noise of initial std `weight_noise_std`."""
        self.core = AdaptiveWeightNoise(net, init_std=self.config.weight_noise_std) if self.config.weight_noise else net

    @property
    def net(self) -> Any:
        """The network with its mean weights (sampling, figures)."""
        return self.core.module if isinstance(self.core, AdaptiveWeightNoise) else self.core

    def run_network(self, batch: HandwritingBatch) -> MixtureParams:
        raise NotImplementedError

    # --- losses --------------------------------------------------------------------------------
    @staticmethod
    def targets(batch: HandwritingBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.targets, batch.target_mask

    def batch_units(self, batch: HandwritingBatch) -> int:
        return int(batch.target_mask.sum())

    def compute_loss(self, batch: HandwritingBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        params = self.run_network(batch)
        target, mask = self.targets(batch)
        nll = mixture_nll(params, target, mask, reduction="seq_mean")
        points = mask.sum().clamp_min(1)
        logs = {
            "nll": nll.detach(),
            "nll_per_point": nll.detach() * mask.shape[0] / points,
            "sse": sum_squared_error(params.map(torch.Tensor.detach), target, mask, reduction="mean"),
        }
        loss = nll
        if isinstance(self.core, AdaptiveWeightNoise):
            complexity = self.core.complexity_loss(self.n_train_lines)
            loss = nll + complexity.to(nll.dtype)
            logs["complexity"] = complexity.detach()
            if self.global_step % 50 == 0:
                logs.update({k: torch.tensor(v) for k, v in self.core.sigma_stats().items()})
        logs["loss"] = loss.detach()
        return loss, logs

    # --- evaluation ----------------------------------------------------------------------------
    def _evaluate(self, batch: HandwritingBatch, stage: str) -> None:
        params = self.run_network(batch)
        target, mask = self.targets(batch)
        self.eval_metrics[f"{stage}_nats"].update(mixture_nll(params, target, mask, reduction="sum").double())
        self.eval_metrics[f"{stage}_sse"].update(sum_squared_error(params, target, mask, reduction="sum").double())
        self.eval_metrics[f"{stage}_points"].update(mask.sum().double())
        self.eval_metrics[f"{stage}_lines"].update(torch.tensor(float(mask.shape[0]), dtype=torch.float64))

    def validation_step(self, batch: HandwritingBatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: HandwritingBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _log_stage(self, stage: str) -> None:
        nats, points = self.eval_metrics[f"{stage}_nats"].compute(), self.eval_metrics[f"{stage}_points"].compute()
        lines, sse = self.eval_metrics[f"{stage}_lines"].compute(), self.eval_metrics[f"{stage}_sse"].compute()
        self.log(f"{stage}/nll", (nats / lines.clamp_min(1)).float(), prog_bar=True)
        self.log(f"{stage}/nll_per_point", (nats / points.clamp_min(1)).float())
        self.log(f"{stage}/sse", (sse / points.clamp_min(1)).float())
        self.log(f"{stage}/lines", lines.float())
        for name in ("nats", "points", "lines", "sse"):
            self.eval_metrics[f"{stage}_{name}"].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")


class HandwritingPrediction(HandwritingModel):
    """Unconditional handwriting: skip-connected LSTM stack + mixture density output (Sec. 4)."""

    config_class = HandwritingPredictionConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(data_info, optim, **options)
        self._wrap(PredictionNet(self.config))

    def run_network(self, batch: HandwritingBatch) -> MixtureParams:
        params, _ = self.core(batch.inputs)
        return params

    def segment_loss(self, segment: dict[str, torch.Tensor], state: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Dynamic evaluation (seqgen/eval/dynamic.py): inputs, targets (B, L, 3), mask (B, L) ->
        (summed nats, scored points, the LSTM state at the segment's end)."""
        params, state = self.core(segment["inputs"], state)
        return mixture_nll(params, segment["targets"], segment["mask"], reduction="sum"), segment["mask"].sum(), state


class HandwritingSynthesis(HandwritingModel):
    """Handwriting conditioned on a transcription through a Gaussian window (Sec. 5)."""

    config_class = HandwritingSynthesisConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(data_info, optim, **options)
        self._wrap(SynthesisNet(len(self.vocab), self.config))
        self.points_per_char = float(data_info.get("points_per_char") or 30.0)

    def run_network(self, batch: HandwritingBatch) -> MixtureParams:
        params, _, _ = self.core(batch.inputs, batch.chars, batch.char_mask)
        return params

    def compile_network(self, **options: Any) -> list[str]:
        """compile=true: torch.compile the window step and the mixture head, not the whole network:
        tracing layer 1's time loop would unroll it step by step (a graph per sequence length)."""
        net = self.net
        net.window.compile(**options)
        net.head.compile(**options)
        log.info("torch.compile: window, head")
        return ["window", "head"]
