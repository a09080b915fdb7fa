"""Shared Lightning behaviour of every model family.

A family subclasses `SeqModule` and implements `compute_loss(batch) -> (loss, logs)`; the base
class does the rest: optimizer from config, NaN/inf steps skipped and counted, gradient norm
logging, and a family tag in every checkpoint so a checkpoint of another family is refused with
a clear error.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)


class SeqModule(pl.LightningModule):
    family: str = "base"
    monitor: str = "val/loss"
    unit_name: str = "items"
    data_families: tuple[str, ...] = ()  # the families whose prepared data it trains on; () = its own

    @classmethod
    def reads_families(cls) -> tuple[str, ...]:
        return cls.data_families or (cls.family,)

    def __init__(self, optim: DictConfig | dict | None = None, max_nonfinite_steps: int = 25) -> None:
        super().__init__()
        self.optim_cfg = OmegaConf.create(optim) if optim is not None else None
        self.max_nonfinite_steps = max_nonfinite_steps
        self.nonfinite_steps = 0  # total skipped steps
        self._nonfinite_run = 0  # consecutive skipped steps

    # --- to implement ---------------------------------------------------------------------------
    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def batch_units(self, batch: Any) -> int:
        raise NotImplementedError

    # --- training -------------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        loss, logs = self.compute_loss(batch)
        if not torch.isfinite(loss):
            # Returning None makes Lightning skip backward and the optimizer step.
            self.nonfinite_steps += 1
            self._nonfinite_run += 1
            log.warning("non-finite loss at step %d: step skipped (%d skipped so far)", self.global_step, self.nonfinite_steps)
            self.log("train/nonfinite_steps", float(self.nonfinite_steps), on_step=True, batch_size=1)
            if self._nonfinite_run >= self.max_nonfinite_steps:
                raise SeqgenError(
                    f"the loss was NaN/inf for {self._nonfinite_run} steps in a row (step {self.global_step}): "
                    "lower optim.optimizer.lr, enable gradient clipping (optim.grad_clip.value) or check the data"
                )
            return None
        self._nonfinite_run = 0
        for key, value in logs.items():
            self.log(f"train/{key}", value, on_step=True, on_epoch=False, prog_bar=key in ("loss", "bpc"), batch_size=1)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Norm before clipping, so exploding gradients are visible in the logs.
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            self.log("train/grad_norm", norm, on_step=True, batch_size=1)

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        # A skipped (non-finite) step has no gradients at all: value clipping of an empty list
        # raises inside torch (norm clipping tolerates it). Nothing to clip, so nothing to do.
        if not any(p.grad is not None for p in self.parameters()):
            return
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm)

    def configure_optimizers(self) -> Any:
        if self.optim_cfg is None:
            raise SeqgenError("no optimizer configured: pass optim=<adam|sgd|rmsprop_graves>")
        cfg = self.optim_cfg
        optimizer_cfg = OmegaConf.to_container(cfg.optimizer, resolve=True)
        lr = float(optimizer_cfg.get("lr", 1e-3)) * self.lr_scale()
        optimizer = instantiate(optimizer_cfg, params=self.parameters(), lr=lr)
        if cfg.get("scheduler") is None:
            return optimizer
        scheduler = instantiate(OmegaConf.to_container(cfg.scheduler, resolve=True), optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def lr_scale(self) -> float:
        """Learning-rate scaling with the number of data-parallel processes (optim.lr_scaling)."""
        rule = (self.optim_cfg or {}).get("lr_scaling", "none")
        world = self.trainer.world_size if self._trainer is not None else 1
        if rule == "linear":
            return float(world)
        if rule == "sqrt":
            return math.sqrt(world)
        if rule != "none":
            raise SeqgenError(f"unknown optim.lr_scaling '{rule}': use none, linear or sqrt")
        return 1.0

    # --- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Plain types only: checkpoints are read back with torch.load(weights_only=True).
        from seqgen.core.checkpoints import checkpoint_meta, plain

        checkpoint["seqgen"] = checkpoint_meta(self)
        if "hyper_parameters" in checkpoint:
            checkpoint["hyper_parameters"] = plain(checkpoint["hyper_parameters"])
        # Which data (fingerprint, vocabulary) this model was trained on: eval and resume compare.
        checkpoint["seqgen"]["data"] = plain(getattr(self, "data_identity", None))

    # --- torch.compile (config: compile=true) ---------------------------------------------------
    compile_modules: tuple[str, ...] | None = None  # child modules to compile; None = those holding an RNN

    def compile_network(self, **options: Any) -> list[str]:
        """Compile the recurrent network with torch.compile, in place; returns the compiled names.

        `nn.Module.compile` keeps parameter names, so checkpoints of compiled and eager runs are
        interchangeable. By default every direct child module containing an `nn.RNNBase` (the
        LSTM stacks) is compiled; a family can list others in `compile_modules`.

        Caveats: the fused LSTM kernels (cuDNN / oneDNN) are not traced, so most of the gain is in
        the code around them (heads, mixture densities, the attention window), and on GPUs. On
        CPUs inductor needs a C++ compiler at run time and the first steps are slow while it
        compiles; every new sequence length (a shorter last evaluation segment) or a state that
        changes between None and tensors compiles another graph. Use it for long GPU runs.
        """
        from torch import nn

        names = self.compile_modules or tuple(
            name for name, child in self.named_children() if any(isinstance(m, nn.RNNBase) for m in child.modules())
        )
        if not names:
            raise SeqgenError(f"compile=true: {type(self).__name__} has no recurrent module to compile; set compile=false")
        for name in names:
            getattr(self, name).compile(**options)
        log.info("torch.compile: %s", ", ".join(names))
        return list(names)
