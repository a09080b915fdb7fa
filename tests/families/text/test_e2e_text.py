"""End to end on a tiny corpus: prepare, train, checkpoint, resume exactly, evaluate, sample."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import open_dict

from conftest import BIN, read_json, tiny_train_cfg
from seqgen.training.run import train


class BatchRecorder(pl.Callback):
    """Fingerprints of every training batch, by global step."""

    def __init__(self) -> None:
        self.seen: dict[int, str] = {}
        self.losses: dict[int, float] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        self.seen[trainer.global_step] = hashlib.sha1(batch["inputs"].numpy().tobytes()).hexdigest()
        if outputs is not None:
            self.losses[trainer.global_step] = float(outputs["loss"])


def test_train_checkpoint_resume_eval_sample(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    # Uninterrupted reference run: 24 steps = 2.4 epochs of 10 batches.
    full = BatchRecorder()
    cfg = tiny_train_cfg(tmp_path / "a", tiny_text_data, tiny_text_file, ["trainer.max_steps=24", "test=false"])
    result = train(cfg, Path(cfg.paths.output_dir), [full])
    assert result["global_step"] == 24
    assert len(full.seen) == 24

    # Interrupted run: stop at 14 (mid-epoch), then resume to 24.
    first = BatchRecorder()
    cfg_b = tiny_train_cfg(tmp_path / "b", tiny_text_data, tiny_text_file, ["trainer.max_steps=14", "test=false"])
    run_b = Path(cfg_b.paths.output_dir)
    train(cfg_b, run_b, [first])
    assert (run_b / "checkpoints" / "last.ckpt").exists()
    assert not list(run_b.glob("checkpoints/*.tmp"))
    second = BatchRecorder()
    with open_dict(cfg_b):
        cfg_b.trainer.max_steps = 24
        cfg_b.resume = "auto"
    resumed = train(cfg_b, run_b, [second])
    assert resumed["global_step"] == 24
    assert min(second.seen) == 15, "resume must continue at the next step, not restart the epoch"
    # Same data position: the resumed run sees exactly the batches of the uninterrupted run.
    assert {s: first.seen[s] for s in first.seen} == {s: full.seen[s] for s in first.seen}
    assert {s: second.seen[s] for s in second.seen} == {s: full.seen[s] for s in second.seen}

    # Evaluate and sample through the real command lines.
    out = subprocess.run(
        [str(BIN / "seqgen-eval"), f"ckpt={run_b}", f"hydra.run.dir={tmp_path / 'eval'}"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = read_json(tmp_path / "eval" / "metrics.json")
    assert 0 < report["metrics"]["test/bpc"] < 8
    assert {"zlib", "bz2", "lzma"} <= set(report["compression"]["compressors"])
    assert (tmp_path / "eval" / "compression.md").read_text().count("|") > 10
    static = next(row for row in report["compression"]["rows"] if row["method"] == "LSTM 2x32 (static)")
    assert static["bytes"] > 0 and static["estimate_bpc"] > 0  # the test split coded for real

    out = subprocess.run(
        [str(BIN / "seqgen-sample"), f"ckpt={run_b}", "prime=It was", "length=40", "num_samples=3", f"hydra.run.dir={tmp_path / 'sample'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    samples = (tmp_path / "sample" / "samples.txt").read_text().split("\n\n----\n\n")
    assert len(samples) == 3 and all(s.startswith("It was") and len(s) >= 40 for s in samples)
    assert "Run folder:" in out.stdout
