"""The image family: multidimensional LSTMs on 2D images (Graves et al. 2007; Graves 2013's outlook).

Models (conf/model/): `image_mdlstm` (causal 2D-LSTM density model, sampled by wavefronts),
`image_rowlstm` (PixelRNN Row LSTM peer), `image_classifier` (4-direction 2D-LSTM classifier).
Data (conf/data/): `image_digits` (scikit-learn's 8x8 digits, embedded), `image_digits_binary`,
`fashion_mnist` (Debian's dataset-fashion-mnist), `mnist_idx` (IDX files), `binarized_mnist` (.amat).
See docs/image.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.core.family import Family, program, versus
from seqgen.errors import SeqgenError
from seqgen.families.image.config import ImageSampleOptions
from seqgen.io import atomic_path, atomic_write


class ImageFamily(Family):
    name = "image"
    # lazy: `prepare` imports no Lightning
    module_paths = tuple(f"seqgen.families.image.module:{name}" for name in ("ImageMDLSTM", "ImageRowLSTM", "ImageClassifier"))
    sample_schema = ImageSampleOptions  # num_samples and seed are platform options

    @staticmethod
    def _is_density(model: Any) -> bool:
        from seqgen.families.image.module import ImageDensityModule

        return isinstance(model, ImageDensityModule)

    def _density(self, model: Any, what: str) -> Any:
        if not self._is_density(model):
            raise SeqgenError(f"{type(model).__name__} is a classifier and cannot {what}; use seqgen-eval for its test accuracy")
        return model

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        """`seqgen-sample ckpt=<run> num_samples=16 temperature=1.0`: samples.png + samples.npy."""
        import numpy as np
        import torch

        from seqgen.families.image.figures import to_unit, save_grid
        from seqgen.families.image.generate import sample_images
        from seqgen.sampling.budget import check_request

        model = self._density(model, "be sampled from")
        count = int(cfg.num_samples)  # the platform's option, checked (>= 1) before any work
        temperature = self.sample_settings(cfg).temperature
        # the images (int64) and one row of logits per image while sampling
        per_image = model.height * model.width * 8 + model.width * int(model.levels) * 4
        check_request(cfg, f"num_samples={count} images of {model.height}x{model.width}", count, per_image, "num_samples")
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(int(cfg.get("seed") or 0))
        start = time.perf_counter()
        images = sample_images(model, count, temperature, generator)
        seconds = time.perf_counter() - start
        out_dir = Path(out_dir)
        with atomic_path(out_dir / "samples.npy") as tmp:
            np.save(tmp, images.cpu().numpy().astype(np.uint8))
        png = save_grid([to_unit(images, model.levels)], out_dir / "samples.png", cols=int(np.ceil(np.sqrt(count))))
        print(f"[seqgen] {count} images of {model.height}x{model.width} in {seconds:.2f} s ({count / seconds:.1f} images/s): {png}")
        return {"samples": str(png), "samples_npy": str(out_dir / "samples.npy"), "images_per_sec": count / seconds}

    def preview(self, model: Any, datamodule: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.image.figures import sample_grid

        if not self._is_density(model):
            return {}
        path = sample_grid(model, Path(out_dir) / f"{tag}.png", model.config.preview_count, model.config.preview_temperature)
        return {"samples/images": path}

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.image.figures import sample_grid

        extra: dict[str, Any] = {}
        if self._is_density(model):
            extra["samples_png"] = sample_grid(model, Path(run_dir) / "samples.png", 64)
        extra.update(self.report(model, run_dir, datamodule, metrics))
        return extra

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """image_report.md: the test metric (NLL or accuracy) beside its trivial baseline; completions.png for density models."""
        from seqgen.families.image.baseline import trivial_baselines
        from seqgen.families.image.figures import completion_figure, first_test_images

        out_dir = Path(out_dir)
        info = datamodule.info
        lines = [f"# {type(model).__name__} on {info.get('corpus', '?')} ({info.get('height')}x{info.get('width')}, {info.get('levels')} levels)", ""]
        extra: dict[str, Any] = trivial_baselines(datamodule, self._is_density(model))
        if self._is_density(model):
            for key, unit in (("test/nats_per_image", "nats/image"), ("test/bits_per_dim", "bits/dim")):
                if key in metrics:
                    lines.append(f"- test NLL: {metrics[key]:.4f} {unit}")
            if "test/baseline_bits_per_dim" in extra:
                lines.append(f"- baseline, independent pixels with their position's training histogram: {extra['test/baseline_bits_per_dim']:.4f} bits/dim")
            originals = first_test_images(datamodule, 8)
            path = completion_figure(model, originals, out_dir / "completions.png")
            lines += ["", f"![completions]({path.name}) (original | top half given | sampled bottom halves)"]
            extra["completions_png"] = str(path)
        elif "test/accuracy" in metrics:
            lines.append(f"- test accuracy: {metrics['test/accuracy']:.4f}")
            if "test/baseline_accuracy" in extra:
                lines.append(f"- baseline, always the most frequent training class: {extra['test/baseline_accuracy']:.4f}")
        report = atomic_write(out_dir / "image_report.md", "\n".join(lines) + "\n")
        extra["report"] = str(report)
        return extra

    # --- the end of `seqgen-train` -------------------------------------------------------------
    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """Test NLL (or accuracy) beside the trivial baseline of `baseline.py`."""
        metrics = result.get("metrics") or {}
        if "test/bits_per_dim" in metrics and "test/baseline_bits_per_dim" in result:
            model, base = metrics["test/bits_per_dim"], result["test/baseline_bits_per_dim"]
            return f"test: {model:.3f} bits/dim; independent pixels (each position's training histogram) {base:.3f} ({versus(model, base)})"
        if "test/accuracy" in metrics and "test/baseline_accuracy" in result:
            model, base = metrics["test/accuracy"], result["test/baseline_accuracy"]
            return f"test: accuracy {model:.1%}; always the most frequent training class {base:.1%} ({100 * (model - base):+.1f} points)"
        return None

    def next_commands(self, run: str, result: Mapping[str, Any]) -> list[str]:
        evaluate = f"{program('seqgen-eval')} ckpt={run}"
        return [evaluate] if "test/accuracy" in (result.get("metrics") or {}) else [f"{program('seqgen-sample')} ckpt={run} num_samples=64", evaluate]


FAMILY = ImageFamily()
