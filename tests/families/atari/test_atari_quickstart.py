"""The documented Atari quick start, as a user runs it (slow: several CPU minutes): its targets, and the
agent's paddle following the actions the way the emulator moves it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from conftest import BIN, read_json  # noqa: E402

from seqgen.families.atari.collect import GameStream  # noqa: E402

pytestmark = pytest.mark.slow

PONG_UP, PONG_DOWN = 3, 4  # ALE's RIGHT and LEFT move Pong's paddle up and down
AGENT_COLUMNS = slice(73, 76)  # the agent's (right) paddle at 84 x 84
FIELD_ROWS = slice(14, 78)


def paddle_row(frame: np.ndarray, background: float) -> float:
    """Vertical centre of the agent's paddle: intensity-weighted mean row of its columns."""
    weights = np.abs(frame[FIELD_ROWS, AGENT_COLUMNS].astype(np.float64) - background).sum(axis=1)
    return float((weights * np.arange(FIELD_ROWS.start, FIELD_ROWS.stop)).sum() / max(weights.sum(), 1e-9))


def emulator_branches(warmup: int, steps: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """10 real Pong frames after `warmup` random steps, the 9 actions between them, and the frames the
    emulator shows after `steps` UP or DOWN actions from the same state (no sticky actions)."""
    stream = GameStream("pong", seed, repeat_action_probability=0.0)
    frames, actions = [], []
    for _, (frame, action, _) in zip(range(warmup), next(stream.episodes())):
        frames.append(frame)
        actions.append(action)
    frames.append(stream._observe())  # the state after the last action
    state = stream.ale.cloneState()
    branches = {}
    for action in (PONG_UP, PONG_DOWN):
        stream.ale.restoreState(state)
        for _ in range(steps):
            stream.act(action)
        branches[action] = stream._observe()
    return np.stack(frames[-10:]), np.asarray(actions[-9:]), branches


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documented commands: `seqgen-prepare data=atari`, `seqgen-train experiment=atari_quickstart`."""
    tmp_path = tmp_path_factory.mktemp("atari_quickstart")
    env_overrides = [f"paths.data_dir={tmp_path / 'data'}", "logger=csv"]
    prepare = subprocess.run([str(BIN / "seqgen-prepare"), "data=atari", *env_overrides[:1], f"hydra.run.dir={tmp_path / 'prep'}"],
                             capture_output=True, text=True)
    assert prepare.returncode == 0, prepare.stderr[-2000:]
    run = tmp_path / "run"
    train = subprocess.run([str(BIN / "seqgen-train"), "experiment=atari_quickstart", *env_overrides, f"hydra.run.dir={run}"],
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-2000:]
    assert "training steps took" in train.stdout
    return run


def test_quickstart_beats_copy_last_at_every_horizon(quickstart_run: Path) -> None:
    metrics = read_json(quickstart_run / "metrics.json")
    for game in ("pong", "breakout"):
        assert metrics[f"test/{game}/worst_mse_ratio"] <= 1.0, game  # MSE at or below copy-last at every k in 1..100


@pytest.mark.xfail(reason="open target (docs/atari.md): the 400-step model fades the paddles instead of moving them", strict=False)
def test_quickstart_paddle_follows_the_actions(quickstart_run: Path) -> None:
    from seqgen.core.checkpoints import load_model  # noqa: PLC0415

    model = load_model(str(quickstart_run))
    model.eval()
    steps = 4
    moved = {"model": [], "emulator": []}
    for warmup in (60, 90, 120, 150):
        prefix, actions, real = emulator_branches(warmup, steps)
        background = float(np.median(prefix[-1]))
        rows = {}
        for action in (PONG_UP, PONG_DOWN):
            chosen = torch.from_numpy(np.concatenate([actions, np.full(steps, action)]))[None]
            generated = model.net.rollout(torch.from_numpy(prefix)[None].float() / 255, chosen)[0, -1].numpy() * 255
            rows[action] = (paddle_row(generated, background), paddle_row(real[action], background))
        moved["model"].append(rows[PONG_DOWN][0] - rows[PONG_UP][0])
        moved["emulator"].append(rows[PONG_DOWN][1] - rows[PONG_UP][1])
    assert np.mean(moved["emulator"]) > 3  # the game: DOWN puts the paddle lower than UP
    assert np.mean(moved["model"]) > 3, moved  # the model: the same, from the same frames
