"""Lightning module of the Atari family: loss and metrics of action-conditional frame prediction.

Loss: squared error of the predicted frame, weighted toward the pixels that change,

    w_{t+1}(i, j) = 1 + λ [x_{t+1}(i, j) ≠ x_t(i, j)  or  x̂_{t+1}(i, j) ≠ x_t(i, j)]
    L             = Σ w (x̂_{t+1} - x_{t+1})² / Σ w                 (intensities in [0, 1]; λ = changed_weight)

x_t is the real frame. Under 1% of the pixels of Pong or Breakout change between two frames;
without the weight the cheapest way down is to predict no change at all. The weight also covers
the pixels the model changes (a constant, no gradient of its own): a change drawn where nothing
moves costs as much as a change missed, so the model is not paid to paint on the static screen.

Curriculum (Oh et al. 2015): `curriculum` lists [from_step, k] pairs; at a training step the model
predicts the last k frames of each clip from its own predictions (k = 1 is plain teacher forcing),
e.g. [[0, 1], [1000, 3], [2000, 5]].

Validation and test: a rollout from the first `prefix_frames` real frames of each clip under its
real actions, to the clip's end. `val/mse` is the MSE over every generated frame (mean over the
horizons), beside `val/baseline_mse` of copying the last real frame; `val/mse@1` the first frame's.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional, Sequence

import torch
from torchmetrics import MeanMetric

from seqgen.errors import SeqgenError
from seqgen.core.module import SeqModule
from seqgen.families.atari.config import AtariModelConfig
from seqgen.families.atari.datamodule import FrameBatch
from seqgen.families.atari.nets import FramePredictor
from seqgen.nn.reproducible import thread_invariant_sum

log = logging.getLogger(__name__)

EVAL_METRICS = ("mse", "baseline_mse", "mse@1", "baseline_mse@1")


def curriculum_k(curriculum: Sequence[Sequence[int]], step: int) -> int:
    """The prediction depth k in force at `step` for a sorted [[from_step, k], ...] schedule."""
    k = 1
    for start, depth in curriculum:
        if step >= int(start):
            k = int(depth)
    return k


def changed_mask(frames: torch.Tensor, predicted: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, S, S) real frames -> (B, T-1, S, S) bool: pixel t+1 differs from pixel t, in the real
    frames or (given the (B, T-1, S, S) predictions) in the prediction of frame t+1."""
    changed = frames[:, 1:] != frames[:, :-1]
    return changed if predicted is None else changed | (predicted.detach() != frames[:, :-1])


class AtariFramePredictor(SeqModule):
    family = "atari"
    unit_name = "frames"
    monitor = "val/mse"

    config_class = AtariModelConfig

    def __init__(self, data_info: dict[str, Any], optim: Any = None, **options: Any) -> None:
        super().__init__(optim, config=self.typed_config(options), data_info=data_info)
        if data_info.get("family") not in (None, "atari"):
            raise SeqgenError(f"an Atari model needs Atari frames, got '{data_info.get('family')}' data: use data=atari")
        self.size = int(data_info["size"])
        if self.size < 2 ** len(self.config.channels):
            raise SeqgenError(f"model.channels has {len(self.config.channels)} stride-2 layers, too many for {self.size}x{self.size} frames")
        self.games: list[str] = list(data_info.get("games") or [])
        self.action_names: list[str] = list(data_info.get("action_names") or [])
        self.net = FramePredictor(self.size, int(data_info.get("num_actions", 18)), self.config)
        self.eval_means = torch.nn.ModuleDict({f"{s}_{n}".replace("@", "_at"): MeanMetric() for s in ("val", "test") for n in EVAL_METRICS})
        self.train_clock: dict[str, float] = {}

    # --- loss -----------------------------------------------------------------------------------
    def forward(self, frames: torch.Tensor, actions: torch.Tensor, observed: Optional[int] = None) -> torch.Tensor:
        return self.net(frames, actions, observed)

    def compute_loss(self, batch: FrameBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        steps = batch.frames.shape[1] - 1
        k = min(curriculum_k(self.config.curriculum, self.global_step), steps)
        predicted = self(batch.frames, batch.actions[:, :-1], observed=steps - k + 1)
        target = batch.frames[:, 1:]
        sq = (predicted - target).pow(2)
        weight = 1.0 + self.config.changed_weight * changed_mask(batch.frames, predicted).to(sq.dtype)
        loss = thread_invariant_sum(weight * sq) / thread_invariant_sum(weight)  # the same model at any thread count
        return loss, {"loss": loss.detach(), "mse": sq.detach().mean(), "k": torch.tensor(float(k))}

    def batch_units(self, batch: FrameBatch) -> int:
        return int(batch.frames.shape[0] * (batch.frames.shape[1] - 1))

    # --- evaluation: rollouts from a real prefix, against copying the last real frame -----------
    def _evaluate(self, batch: FrameBatch, stage: str) -> None:
        prefix = min(self.config.prefix_frames, batch.frames.shape[1] - 1)
        generated = self.net.rollout(batch.frames[:, :prefix], batch.actions[:, :-1])
        real = batch.frames[:, prefix:]
        values = {
            "mse": (generated - real).pow(2),
            "baseline_mse": (batch.frames[:, prefix - 1 : prefix] - real).pow(2),
        }
        for name, sq in list(values.items()):
            values[f"{name}@1"] = sq[:, 0]
        for name, sq in values.items():
            self.eval_means[f"{stage}_{name}".replace("@", "_at")].update(sq.mean(), weight=sq.numel())

    def validation_step(self, batch: FrameBatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: FrameBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _log_stage(self, stage: str) -> None:
        for name in EVAL_METRICS:
            metric = self.eval_means[f"{stage}_{name}".replace("@", "_at")]
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=name == "mse")
            metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")

    # --- the time a run took (a budget in steps; the time is what it cost on this machine) -------
    def on_train_start(self) -> None:
        self.train_clock = {"start_wall": time.perf_counter(), "start_cpu": time.process_time(), "start_step": float(self.global_step)}

    def on_train_end(self) -> None:
        if not self.train_clock:
            return
        clock = self.train_clock
        clock["wall_seconds"] = round(time.perf_counter() - clock.pop("start_wall"), 1)
        clock["cpu_seconds"] = round(time.process_time() - clock.pop("start_cpu"), 1)
        clock["steps"] = float(self.global_step - clock.pop("start_step"))
        if self.trainer.is_global_zero:
            print(f"[atari] {int(clock['steps'])} training steps took {clock['wall_seconds']:.0f} s "
                  f"({clock['cpu_seconds']:.0f} CPU s in this process, {torch.get_num_threads()} threads)", flush=True)
