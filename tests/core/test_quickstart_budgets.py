"""The quick starts are budgeted in training steps, never in wall time: the same command trains the
same model on a busy laptop and on a quiet server (only the time it takes differs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compose_cfg

# The atari and speech quick starts are converted on their own branches.
STEP_BUDGETED = [
    "text_quickstart", "handwriting_prediction_quickstart", "handwriting_synthesis_quickstart",
    "handwriting_synthesis_10min", "image_quickstart", "image_classifier_quickstart",
    "recognizer_quickstart", "recognizer_sparse",
]


@pytest.mark.parametrize("experiment", STEP_BUDGETED)
def test_quickstart_budget_is_steps_not_time(experiment: str, tmp_path: Path) -> None:
    cfg = compose_cfg("train", tmp_path, [f"experiment={experiment}"])
    assert cfg.trainer.get("max_time") is None, f"{experiment}: trainer.max_time decides the result on a slow machine"
    assert cfg.trainer.get("max_epochs") in (None, -1), f"{experiment}: an epoch budget"
    assert 0 < cfg.trainer.max_steps <= 5000, f"{experiment}: no step budget ({cfg.trainer.max_steps})"


def test_text_quickstart_schedule_ends_at_its_budget(tmp_path: Path) -> None:
    """The learning rate decays to its floor exactly at the last step, also for a capped run."""
    for overrides in ([], ["trainer.max_steps=40"]):
        cfg = compose_cfg("train", tmp_path, ["experiment=text_quickstart", *overrides])
        assert cfg.optim.scheduler.total_iters == cfg.trainer.max_steps
