"""Lightning module of the Atari family: loss and metrics of action-conditional frame prediction.

Loss, per predicted pixel:
  categorical head: -log p(level of x_{t+1}(i, j))   (nats; reported as bits per pixel = nats / ln 2)
  mse head:         (x̂_{t+1}(i, j) - x_{t+1}(i, j))²  (intensities in [0, 1])
The mean squared error of the predicted frame (the expected intensity for the categorical head) is
logged for both heads, so the two are comparable.

Curriculum (Oh et al. 2015): `curriculum` lists [from_step, k] pairs; at a training step the model
predicts the last k frames of each clip from its own predictions (k = 1 is plain teacher forcing),
e.g. [[0, 1], [1000, 3], [2000, 5]].
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torchmetrics import SumMetric

from seqgen.errors import SeqgenError
from seqgen.families.atari.datamodule import FrameBatch
from seqgen.families.atari.nets import ActionConditionalPredictor
from seqgen.core.module import SeqModule

LN2 = math.log(2.0)


def curriculum_k(curriculum: Sequence[Sequence[int]], step: int) -> int:
    """The prediction depth k in force at `step` for a sorted [[from_step, k], ...] schedule."""
    k = 1
    for start, depth in curriculum:
        if step >= int(start):
            k = int(depth)
    return k


def check_curriculum(curriculum: Sequence[Sequence[int]]) -> list[list[int]]:
    pairs = [list(map(int, pair)) for pair in curriculum]
    if not pairs or any(len(p) != 2 or p[0] < 0 or p[1] < 1 for p in pairs) or pairs != sorted(pairs):
        raise SeqgenError(f"model.curriculum={curriculum}: give sorted [from_step >= 0, k >= 1] pairs, e.g. [[0, 1], [1000, 3]]")
    return pairs


class AtariFramePredictor(SeqModule):
    family = "atari"
    unit_name = "frames"

    def __init__(
        self,
        data_info: dict[str, Any],
        channels: Sequence[int] = (32, 64, 64),
        hidden_size: int = 512,
        factors: int = 512,
        head: str = "categorical",
        levels: int = 32,
        residual: bool = True,
        curriculum: Sequence[Sequence[int]] = ((0, 1), (1000, 3), (2000, 5)),
        prefix_frames: int = 10,
        horizon: int = 100,
        preview_frames: int = 20,
        optim: Any = None,
        max_nonfinite_steps: int = 25,
    ) -> None:
        super().__init__(optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        if head not in ("categorical", "mse"):
            raise SeqgenError(f"model.head={head}: use categorical (per-pixel softmax over levels) or mse")
        if head == "categorical" and not 2 <= int(levels) <= 256:
            raise SeqgenError(f"model.levels={levels}: must be in [2, 256]")
        if data_info.get("family") not in (None, "atari"):
            raise SeqgenError(f"an Atari model needs Atari frames, got '{data_info.get('family')}' data: use data=atari")
        self.curriculum = check_curriculum(curriculum)
        self.save_hyperparameters()
        self.size = int(data_info["size"])
        self.games: list[str] = list(data_info.get("games") or [])
        self.action_names: list[str] = list(data_info.get("action_names") or [])
        self.net = ActionConditionalPredictor(
            self.size, int(data_info.get("num_actions", 18)), tuple(int(c) for c in channels), hidden_size, factors, head, int(levels), residual  # type: ignore[arg-type]
        )
        self.monitor = "val/bpp" if head == "categorical" else "val/mse"
        self.eval_sums = torch.nn.ModuleDict({f"{s}_{n}": SumMetric() for s in ("val", "test") for n in ("nats", "sq", "pixels")})

    # --- loss -----------------------------------------------------------------------------------
    def forward(self, frames: torch.Tensor, actions: torch.Tensor, observed: Optional[int] = None) -> torch.Tensor:
        out, _ = self.net(frames, actions, observed)
        return out

    def losses(self, out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel (nats or squared error) sums and the squared error of the predicted frame, summed."""
        predicted = self.net.expected_frame(out)
        sq = (predicted - target).pow(2).sum()
        if self.net.head_kind == "categorical":
            nats = F.cross_entropy(out.flatten(0, 1), self.net.quantise(target).flatten(0, 1), reduction="sum")
        else:
            nats = (out[:, :, 0] - target).pow(2).sum()
        return nats, sq

    def compute_loss(self, batch: FrameBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        steps = batch.frames.shape[1] - 1
        k = min(curriculum_k(self.curriculum, self.global_step), steps)
        out = self(batch.frames, batch.actions, observed=steps - k + 1)
        target = batch.frames[:, 1:]
        nats, sq = self.losses(out, target)
        pixels = float(target.numel())
        loss = nats / pixels
        logs = {"loss": loss.detach(), "mse": sq.detach() / pixels, "k": torch.tensor(float(k))}
        if self.net.head_kind == "categorical":
            logs["bpp"] = loss.detach() / LN2
        return loss, logs

    def batch_units(self, batch: FrameBatch) -> int:
        return int(batch.frames.shape[0] * (batch.frames.shape[1] - 1))

    # --- evaluation: one-step (teacher-forced) prediction of every frame --------------------------
    def _evaluate(self, batch: FrameBatch, stage: str) -> None:
        out = self(batch.frames, batch.actions)
        nats, sq = self.losses(out, batch.frames[:, 1:])
        self.eval_sums[f"{stage}_nats"].update(nats.double())
        self.eval_sums[f"{stage}_sq"].update(sq.double())
        self.eval_sums[f"{stage}_pixels"].update(torch.tensor(float(batch.frames[:, 1:].numel()), dtype=torch.float64))

    def validation_step(self, batch: FrameBatch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: FrameBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _log_stage(self, stage: str) -> None:
        pixels = self.eval_sums[f"{stage}_pixels"].compute().clamp_min(1)
        mse = self.eval_sums[f"{stage}_sq"].compute() / pixels
        self.log(f"{stage}/mse", mse.float(), prog_bar=self.net.head_kind == "mse")
        self.log(f"{stage}/psnr", (10 * torch.log10(1.0 / mse.clamp_min(1e-12))).float())
        if self.net.head_kind == "categorical":
            self.log(f"{stage}/bpp", (self.eval_sums[f"{stage}_nats"].compute() / pixels / LN2).float(), prog_bar=True)
        for name in ("nats", "sq", "pixels"):
            self.eval_sums[f"{stage}_{name}"].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")
