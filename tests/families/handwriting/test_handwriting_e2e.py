"""End to end on a tiny Hershey corpus on CPU: prepare, train, checkpoint, sample (CLI), render."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from handwriting_helpers import TINY_DATA, TINY_MODEL, TINY_TRAIN, one_thread, tiny_hw_data  # noqa: F401  (fixtures)
from omegaconf import OmegaConf, open_dict

from conftest import BIN, compose_cfg, read_json
from seqgen.data.shards import read_meta
from seqgen.training.run import train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


def _train(tmp: Path, data_root: Path, kind: str, extra: list[str]) -> Path:
    cfg = compose_cfg("train", tmp, [*TINY_DATA, *TINY_MODEL[kind], *TINY_TRAIN, *extra])
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_root)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    run = Path(cfg.paths.output_dir)
    result = train(cfg, run)
    assert result["global_step"] == cfg.trainer.max_steps
    return run


def _sample(run: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "seqgen-sample"), f"ckpt={run}", f"hydra.run.dir={out}", *args],
        capture_output=True, text=True, timeout=300, env=ENV,
    )


def test_synthesis_train_checkpoint_sample_render(tmp_path: Path, tiny_hw_data: Path) -> None:
    meta = read_meta(tiny_hw_data / "handwriting_hershey")
    run = _train(tmp_path / "syn", tiny_hw_data, "synthesis", ["trainer.max_steps=6"])
    assert (run / "checkpoints" / "last.ckpt").exists() and list(run.glob("checkpoints/best*.ckpt"))
    metrics = read_json(run / "metrics.json")
    for key in ("val/nll", "val/nll_per_point", "val/sse", "test/nll"):
        assert key in metrics["metrics"], key
    # final figures in the run folder, previews under samples/
    for name in ("samples.png", "samples.svg", "samples-alignment.png", "samples-density.png", "side_by_side.png"):
        assert (run / name).stat().st_size > 500, name
    assert "nats per line" in (run / "handwriting.md").read_text()
    assert list((run / "samples").glob("step*-alignment.png")) and list((run / "samples").glob("step*[0-9].png"))

    words = "".join(ch for ch in "the and" if ch in meta["vocab"]["chars"]) or meta["vocab"]["chars"][-1]
    out = _sample(run, tmp_path / "s1", f"text={words}|{words[:2]}", "num_samples=2", "bias=1.0", "max_points=120", "style=writer:1")
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("samples.png", "samples.svg", "samples-alignment.png", "samples-density.png"):
        assert (tmp_path / "s1" / name).stat().st_size > 500, name
        assert str(tmp_path / "s1" / name) in out.stdout
    assert sum(row.startswith("line ") for row in out.stdout.splitlines()) == 4
    assert "primed with training writer" in out.stdout
    svg = (tmp_path / "s1" / "samples.svg").read_text()
    assert svg.count("<g ") == 4 and "<polyline" in svg

    bad = _sample(run, tmp_path / "s2", "text='caf\u00e9 \u00a7'")
    assert bad.returncode == 2
    assert "\u00e9" in bad.stderr and "\u00a7" in bad.stderr and "unknown_chars=drop" in bad.stderr
    dropped = _sample(run, tmp_path / "s3", f"text='{words}\u00a7'", "unknown_chars=drop", "num_samples=1", "max_points=60")
    assert dropped.returncode == 0, dropped.stderr[-2000:]
    empty = _sample(run, tmp_path / "s4", "text=' '")
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_prediction_train_and_sample(tmp_path: Path, tiny_hw_data: Path) -> None:
    run = _train(tmp_path / "pred", tiny_hw_data, "prediction", ["trainer.max_steps=3", "test=false"])
    assert (run / "samples.png").exists() and (run / "side_by_side.png").exists() and (run / "density_real.png").exists()
    out = _sample(run, tmp_path / "s", "num_samples=2", "max_points=25")
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "s" / "samples.png").exists() and (tmp_path / "s" / "samples-density.png").exists()
