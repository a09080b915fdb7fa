"""NaN/inf losses: the step is skipped and counted; training stops clearly if it keeps happening."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import tiny_train_cfg
from seqgen.errors import SeqgenError
from seqgen.families.text.module import TextLSTM
from seqgen.training.run import train


def poison(every: int):
    original = TextLSTM.compute_loss
    calls = {"n": 0}

    def compute_loss(self, batch):  # type: ignore[no-untyped-def]
        loss, logs = original(self, batch)
        calls["n"] += 1
        if calls["n"] % every == 0:
            loss = loss * float("nan")
        return loss, logs

    return compute_loss


def test_nan_steps_are_skipped_and_counted(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TextLSTM, "compute_loss", poison(every=3))
    cfg = tiny_train_cfg(tmp_path, tiny_text_data, tiny_text_file, ["trainer.max_steps=10", "test=false"])
    result = train(cfg, Path(cfg.paths.output_dir))
    assert result["nonfinite_steps"] >= 3
    assert all(torch.isfinite(p).all() for p in torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"].values())


def test_persistent_nan_stops_with_clear_error(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TextLSTM, "compute_loss", poison(every=1))
    cfg = tiny_train_cfg(tmp_path, tiny_text_data, tiny_text_file, ["trainer.max_steps=50", "test=false", "model.max_nonfinite_steps=4"])
    with pytest.raises(SeqgenError, match="NaN/inf for 4 steps"):
        train(cfg, Path(cfg.paths.output_dir))
