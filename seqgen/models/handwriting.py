"""Handwriting prediction (Graves 2013, Sec. 4) and synthesis (Sec. 5) as Lightning modules.

Loss: the mixture density negative log-likelihood in nats *per sequence* (the paper's unit,
``mixture_nll(..., reduction="seq_mean")``); also logged per point, and the squared error of the
mixture mean per point (the paper's SSE column). `val/nll` (nats per line, validation split) is
the monitored metric. Options shared by both families:

* ``weight_noise``: adaptive weight noise (Graves 2011) over every weight, initial std 0.075.
  One weight sample per minibatch (the paper: one per sequence); the complexity loss KL(Q||P) is
  spread over the epoch: per line it is KL / (number of training lines), added to the per-line loss.
* ``clip_lstm_grad`` / ``clip_output_grad``: the paper's derivative clipping ([-10, 10] inside
  the LSTM layers, [-100, 100] at the network outputs); see `seqgen.nn.handwriting_nets`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torchmetrics import SumMetric

from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.training.module import SeqModule
from seqgen.nn.handwriting_nets import PredictionNet, SynthesisNet
from seqgen.nn.mdn import MixtureParams, mixture_nll, sum_squared_error
from seqgen.nn.weight_noise import AdaptiveWeightNoise
from seqgen.nn.modes import eval_mode

log = logging.getLogger(__name__)

# The paper's validation numbers (Tables 3 and 4): nats per sequence, SSE per point.
PAPER = {
    "prediction": [("1 layer", -1025.7, 0.40), ("3 layer", -1041.0, 0.41), ("3 layer + adaptive weight noise", -1057.7, 0.41)],
    "synthesis": [("synthesis", -1096.9, 0.23), ("synthesis + adaptive weight noise", -1128.2, 0.23)],
}
DEFAULT_TEXTS = ("hello world", "Generating sequences", "with recurrent networks")



def announce_files(files: dict[str, Path]) -> dict[str, str]:
    """Print what `seqgen-sample` wrote and return it for the caller."""
    for path in files.values():
        print(f"wrote {path}")
    return {key: str(path) for key, path in files.items()}

class HandwritingModel(SeqModule):
    """Shared by both families: data info, optional weight noise, losses, metrics, figures."""

    family = "handwriting"
    kind = "base"
    monitor = "val/nll"
    unit_name = "points"

    def __init__(self, data_info: dict[str, Any], optim: Any = None, max_nonfinite_steps: int = 25) -> None:
        super().__init__(optim=optim, max_nonfinite_steps=max_nonfinite_steps)
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
    def _wrap(self, net: nn.Module, weight_noise: bool, std: float) -> None:
        self.core = AdaptiveWeightNoise(net, init_std=std) if weight_noise else net

    @property
    def net(self) -> Any:
        """The network with its mean weights (sampling, figures)."""
        return self.core.module if isinstance(self.core, AdaptiveWeightNoise) else self.core

    def run_network(self, batch: dict[str, Any]) -> MixtureParams:
        raise NotImplementedError

    # --- losses --------------------------------------------------------------------------------
    @staticmethod
    def targets(batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["offsets"][:, 1:], batch["mask"][:, 1:]

    def batch_units(self, batch: dict[str, Any]) -> int:
        return int(batch["mask"][:, 1:].sum())

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
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
    def _evaluate(self, batch: dict[str, Any], stage: str) -> None:
        params = self.run_network(batch)
        target, mask = self.targets(batch)
        self.eval_metrics[f"{stage}_nats"].update(mixture_nll(params, target, mask, reduction="sum").double())
        self.eval_metrics[f"{stage}_sse"].update(sum_squared_error(params, target, mask, reduction="sum").double())
        self.eval_metrics[f"{stage}_points"].update(mask.sum().double())
        self.eval_metrics[f"{stage}_lines"].update(torch.tensor(float(mask.shape[0]), dtype=torch.float64))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
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

    # --- sampling helpers ----------------------------------------------------------------------
    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(int(seed))

    def _styles_dir(self, cfg: Any = None) -> Optional[str]:
        folder = (cfg.get("styles_dir") if cfg is not None and hasattr(cfg, "get") else None) or self.hparams.get("styles_dir")
        return str(folder) if folder else None

    def _prime(self, cfg: Any) -> Any:
        from seqgen.sampling.handwriting import check_texts, resolve_style

        prime = resolve_style(cfg.get("style"), cfg.get("style_text"), self.norm, self.train_styles, self._styles_dir(cfg))
        if prime is not None and self.kind == "synthesis":
            prime.text = check_texts([prime.text], self.vocab, str(cfg.get("unknown_chars") or "error"))[0]
        return prime

    def _write_figures(self, samples: Any, out_dir: Path, stem: str, density: bool = True) -> dict[str, Path]:
        """PNG + SVG of every line, alignment plot (synthesis) and density plot of row 0."""
        from seqgen.render.plots import alignment_plot, density_plot
        from seqgen.render.strokes import render_png, render_svg

        out_dir.mkdir(parents=True, exist_ok=True)
        files = {
            "png": render_png(samples.offsets, out_dir / f"{stem}.png"),
            "svg": render_svg(samples.offsets, out_dir / f"{stem}.svg"),
        }
        seen: set[str] = set()
        for row, (text, phi) in enumerate(zip(samples.texts, samples.phis)):
            if phi is None or text in seen or len(phi) == 0:
                continue
            suffix = "" if not seen else f"-{len(seen)}"
            seen.add(text)
            files[f"alignment{suffix}"] = alignment_plot(phi, text, out_dir / f"{stem}-alignment{suffix}.png", title=f"Window weights: {text!r}")
        if density and samples.params and samples.params[0] is not None and len(samples.offsets[0]) > 2:
            spread = 3.0 * float(np.max(self.norm.std))
            files["density"] = density_plot(
                samples.offsets[0][1:], samples.params[0], out_dir / f"{stem}-density.png",
                title="Output density of the sampled line", radius=spread,
            )
        return files

    def _real_rows(self, datamodule: Any, limit: int) -> list[tuple[str, np.ndarray]]:
        try:
            lines = datamodule.read_lines("valid", limit)
        except (SeqgenError, OSError, AttributeError) as err:
            log.warning("no real lines for the side-by-side figure: %s", err)
            return []
        return [(f"real: {line['text']}", self.norm.invert(line["offsets"].numpy())) for line in lines]

    @torch.no_grad()
    def real_density(self, datamodule: Any, path: Path) -> Optional[Path]:
        """The paper's output-density figure: predicted densities along a real validation line."""
        from seqgen.data.handwriting.datamodule import collate_lines
        from seqgen.render.plots import density_plot
        from seqgen.sampling.handwriting import params_to_raw

        try:
            lines = datamodule.read_lines("valid", 1)
        except (SeqgenError, OSError, AttributeError):
            return None
        if not lines:
            return None
        batch = collate_lines(lines)
        batch = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        with eval_mode(self):
            params = params_to_raw(self.run_network(batch), self.norm).map(lambda p: p[0])
        raw = self.norm.invert(lines[0]["offsets"].numpy())
        return density_plot(raw[1:], params, path, title=f"Output density: {lines[0]['text']!r}", radius=3.0 * float(np.max(self.norm.std)))

    def _finish_run(self, files: dict[str, Any], run_dir: Path, datamodule: Any, metrics: dict[str, float]) -> dict[str, Any]:
        """Shared end of `on_run_end`: the density along a real line, then the nats/SSE report."""
        density = self.real_density(datamodule, run_dir / "density_real.png")
        if density is not None:
            files["density_real"] = density
        out = {f"figure_{k}": str(v) for k, v in files.items()}
        out.update(self.report(run_dir, datamodule, metrics))
        return out

    def report(self, out_dir: Path, datamodule: Any, metrics: dict[str, float]) -> dict[str, Any]:
        """handwriting.md: this model's nats per line / per point and SSE next to the paper's tables."""
        rows = ["| model | split | nats per line | nats per point | SSE per point |", "|---|---|---|---|---|"]
        for stage in ("val", "test"):
            if f"{stage}/nll" in metrics:
                rows.append(
                    f"| this {self.kind} model | {stage} | {metrics[f'{stage}/nll']:.1f} | "
                    f"{metrics.get(f'{stage}/nll_per_point', float('nan')):.3f} | {metrics.get(f'{stage}/sse', float('nan')):.3f} |"
                )
        for name, nats, sse in PAPER[self.kind]:
            rows.append(f"| Graves 2013: {name} | IAM-OnDB valid | {nats} | | {sse} |")
        note = (
            "\nNats per line depend on the data: the paper's lines are IAM-OnDB (~700 points); other corpora "
            "(e.g. the synthetic Hershey lines) are not comparable.\n"
        )
        path = Path(out_dir) / "handwriting.md"
        path.write_text("\n".join(rows) + "\n" + note)
        return {"report": str(path)}


class HandwritingPrediction(HandwritingModel):
    """Unconditional handwriting: skip-connected LSTM stack + mixture density output (Sec. 4)."""

    kind = "prediction"

    def __init__(
        self,
        data_info: dict[str, Any],
        hidden_size: int = 400,
        num_layers: int = 3,
        mixture_components: int = 20,
        dropout: float = 0.0,
        weight_noise: bool = False,
        weight_noise_std: float = 0.075,
        clip_lstm_grad: Optional[float] = 10.0,
        clip_output_grad: Optional[float] = 100.0,
        preview_points: int = 400,
        sample_points: int = 700,
        preview_bias: float = 0.5,
        styles_dir: Optional[str] = None,
        optim: Any = None,
        max_nonfinite_steps: int = 25,
    ) -> None:
        super().__init__(data_info, optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        self.save_hyperparameters()
        net = PredictionNet(hidden_size, num_layers, mixture_components, clip_lstm_grad, clip_output_grad, dropout)
        self._wrap(net, weight_noise, weight_noise_std)

    def run_network(self, batch: dict[str, Any]) -> MixtureParams:
        params, _ = self.core(batch["offsets"][:, :-1])
        return params

    def _sample(self, num: int, length: int, bias: float, prime: Any = None, seed: int = 0, keep_params: bool = False) -> Any:
        from seqgen.sampling.handwriting import sample_prediction

        return sample_prediction(self.net, self.norm, num, length, bias, prime, self._generator(seed), keep_params)

    def preview_samples(self, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.render.strokes import render_png

        samples = self._sample(2, int(self.hparams.preview_points), float(self.hparams.preview_bias), seed=self.global_step)
        return {"samples/handwriting": render_png(samples.offsets, Path(out_dir) / f"{tag}.png")}

    def sample_cli(self, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample` for the prediction network: num_samples lines, bias, optional style prime."""
        length = min(int(cfg.get("max_points") or self.hparams.sample_points), int(self.hparams.sample_points))
        samples = self._sample(int(cfg.num_samples), length, float(cfg.get("bias") or 0.0), self._prime(cfg), int(cfg.seed), True)
        files = self._write_figures(samples, Path(out_dir), "samples")
        return announce_files(files)

    def on_run_end(self, run_dir: Path, datamodule: Any, metrics: dict[str, float]) -> dict[str, Any]:
        from seqgen.render.strokes import side_by_side_png

        run_dir = Path(run_dir)
        samples = self._sample(4, int(self.hparams.sample_points), float(self.hparams.preview_bias), seed=0, keep_params=True)
        files: dict[str, Any] = self._write_figures(samples, run_dir, "samples")
        rows = [(f"sample {i}", o) for i, o in enumerate(samples.offsets)] + self._real_rows(datamodule, 4)
        files["side_by_side"] = side_by_side_png(rows, run_dir / "side_by_side.png")
        return self._finish_run(files, run_dir, datamodule, metrics)


class HandwritingSynthesis(HandwritingModel):
    """Handwriting conditioned on a transcription through a Gaussian window (Sec. 5)."""

    kind = "synthesis"

    def __init__(
        self,
        data_info: dict[str, Any],
        hidden_size: int = 400,
        num_layers: int = 3,
        mixture_components: int = 20,
        window_components: int = 10,
        kappa_scale: float = 25.0,
        weight_noise: bool = False,
        weight_noise_std: float = 0.075,
        clip_lstm_grad: Optional[float] = 10.0,
        clip_output_grad: Optional[float] = 100.0,
        max_text_chars: int = 120,
        end_patience: int = 40,
        preview_text: str = "hello world",
        preview_bias: float = 0.5,
        sample_texts: Optional[list[str]] = None,
        styles_dir: Optional[str] = None,
        optim: Any = None,
        max_nonfinite_steps: int = 25,
    ) -> None:
        super().__init__(data_info, optim=optim, max_nonfinite_steps=max_nonfinite_steps)
        self.save_hyperparameters()
        net = SynthesisNet(
            len(self.vocab), hidden_size, num_layers, window_components, mixture_components, kappa_scale, clip_lstm_grad, clip_output_grad
        )
        self._wrap(net, weight_noise, weight_noise_std)
        self.points_per_char = float(data_info.get("points_per_char") or 30.0)

    def run_network(self, batch: dict[str, Any]) -> MixtureParams:
        params, _, _ = self.core(batch["offsets"][:, :-1], batch["chars"], batch["char_mask"])
        return params

    def compile_network(self, **options: Any) -> list[str]:
        """compile=true: torch.compile the window step and the mixture head, not the whole network:
        tracing layer 1's time loop would unroll it step by step (a graph per sequence length)."""
        net = self.net
        net.window.compile(**options)
        net.head.compile(**options)
        log.info("torch.compile: window, head")
        return ["window", "head"]

    # --- sampling ------------------------------------------------------------------------------
    def _known(self, text: str) -> str:
        known = set(self.vocab)
        return "".join(ch for ch in text if ch in known).strip() or self.vocab[-1]

    def write(
        self,
        texts: list[str],
        bias: float = 0.0,
        prime: Any = None,
        max_points: Optional[int] = None,
        unknown_chars: str = "error",
        seed: int = 0,
        keep_params: bool = False,
        on_step: Any = None,
    ) -> Any:
        """Write `texts` (one row each) -> `HandwritingSamples` (raw units); `on_step`: see `sample_synthesis`."""
        from seqgen.sampling.handwriting import check_texts, sample_synthesis

        texts = check_texts(texts, self.vocab, unknown_chars, int(self.hparams.max_text_chars))
        if max_points is None:  # generous: 3x the training data's points per character
            max_points = int(3 * self.points_per_char * max(len(t) for t in texts)) + 100
        return sample_synthesis(
            self.net, self.norm, self.vocab, texts, bias, prime, max_points, int(self.hparams.end_patience),
            self._generator(seed), keep_params, on_step,
        )

    def preview_samples(self, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.render.plots import alignment_plot
        from seqgen.render.strokes import render_png

        text = self._known(self.hparams.preview_text)
        samples = self.write([text, text], float(self.hparams.preview_bias), seed=self.global_step)
        out = {"samples/handwriting": render_png(samples.offsets, Path(out_dir) / f"{tag}.png")}
        if samples.phis[0] is not None and len(samples.phis[0]):
            out["samples/alignment"] = alignment_plot(samples.phis[0], text, Path(out_dir) / f"{tag}-alignment.png", title=f"step {self.global_step}")
        return out

    def sample_cli(self, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample` for synthesis: text ("a|b": lines), bias, style (+ style_text), max_points,
        unknown_chars, num_samples (each line is written num_samples times), seed."""
        raw = cfg.get("text")
        lines = [t for t in str(raw).split("|")] if raw is not None else list(self.hparams.sample_texts or DEFAULT_TEXTS)
        texts = [t for t in lines for _ in range(max(int(cfg.get("num_samples") or 1), 1))]
        prime = self._prime(cfg)
        samples = self.write(
            texts, float(cfg.get("bias") or 0.0), prime, int(cfg.get("max_points") or 1500),
            str(cfg.get("unknown_chars") or "error"), int(cfg.seed), keep_params=True,
        )
        files = self._write_figures(samples, Path(out_dir), "samples")
        if prime is not None:
            print(f"primed with {prime.name}: {prime.text!r}")
        for row, (text, ended, offsets) in enumerate(zip(samples.texts, samples.ended, samples.offsets)):
            how = "end of text" if ended else "max_points reached"
            print(f"line {row}: {text!r}: {len(offsets) - 1} points ({how})")
        return announce_files(files)

    def on_run_end(self, run_dir: Path, datamodule: Any, metrics: dict[str, float]) -> dict[str, Any]:
        from seqgen.render.strokes import side_by_side_png

        run_dir = Path(run_dir)
        real = self._real_rows(datamodule, 3)
        texts = [self._known(t) for t in (self.hparams.sample_texts or DEFAULT_TEXTS)]
        texts += [label[len("real: "):] for label, _ in real]  # the real lines' texts, written by the model
        texts = [t[: int(self.hparams.max_text_chars)] for t in texts]
        samples = self.write(texts, float(self.hparams.preview_bias), seed=0, unknown_chars="drop", keep_params=True)
        files: dict[str, Any] = self._write_figures(samples, run_dir, "samples")
        rows = [(f"sample: {t}", o) for t, o in zip(samples.texts, samples.offsets)]
        n_own = len(texts) - len(real)
        rows = rows[:n_own] + [r for pair in zip(rows[n_own:], real) for r in pair]
        files["side_by_side"] = side_by_side_png(rows, run_dir / "side_by_side.png")
        return self._finish_run(files, run_dir, datamodule, metrics)
