"""Atari family: real ALE collection, shards, the action transform, the curriculum, rollouts, baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from seqgen.errors import SeqgenError  # noqa: E402
from seqgen.families.atari.collect import collect_clips, resolve_game  # noqa: E402
from seqgen.families.atari.datamodule import AtariDataModule, FrameBatch  # noqa: E402
from seqgen.families.atari.generate import parse_actions, rollouts  # noqa: E402
from seqgen.families.atari.module import AtariFramePredictor, curriculum_k  # noqa: E402
from seqgen.families.atari.nets import ActionConditionalPredictor  # noqa: E402
from seqgen.families.atari.prepare import prepare_atari  # noqa: E402
from seqgen.families.atari.report import copy_last_baseline, horizon_errors, per_horizon_mse, psnr  # noqa: E402

INFO = {"family": "atari", "size": 32, "num_actions": 18, "games": ["pong"], "action_names": [f"A{i}" for i in range(18)]}


def tiny_model(**overrides) -> AtariFramePredictor:
    kwargs = dict(channels=(4, 8), hidden_size=16, factors=16, levels=8, curriculum=[[0, 1], [2, 3]], prefix_frames=3, horizon=5)
    kwargs.update(overrides)
    torch.manual_seed(0)
    return AtariFramePredictor(INFO, **kwargs)


def test_collection_from_a_real_rom_is_deterministic_with_a_seed():
    stats: dict[str, int] = {}
    first = list(collect_clips("pong", 4, 50, seed=3, size=32, stats=stats))  # 200 frames
    again = list(collect_clips("pong", 4, 50, seed=3, size=32))
    other = list(collect_clips("pong", 4, 50, seed=4, size=32))
    assert stats["frames"] == 200 and len(first) == 4
    assert first[0].frames.shape == (50, 32, 32) and first[0].frames.dtype == np.uint8
    assert all((a.frames == b.frames).all() and (a.actions == b.actions).all() for a, b in zip(first, again))
    assert any((a.actions != b.actions).any() for a, b in zip(first, other))
    assert set(np.unique(np.concatenate([c.actions for c in first]))) <= {0, 1, 3, 4, 11, 12}  # Pong's minimal set
    assert first[0].frames.std() > 0  # real pixels, not a blank screen


def test_unknown_game_lists_the_available_ones():
    with pytest.raises(SeqgenError, match="available games: .*pong"):
        resolve_game("zork")
    assert resolve_game("SpaceInvaders") == "space_invaders"


def test_shards_round_trip(tmp_path):
    summary = prepare_atari(["pong"], str(tmp_path / "atari"), {"train": 4, "valid": 1, "test": 1}, clip_length=8,
                            eval_clip_length=12, size=32, samples_per_shard=2, min_train_shards=2)
    assert summary["clips"] == {"train": 4, "valid": 1, "test": 1}
    direct = list(collect_clips("pong", 1, 12, seed=2_000_006, size=32))[0]  # the test split's seed
    dm = AtariDataModule(str(tmp_path / "atari"), batch_size=2)
    info = dm.load_info()
    assert info["size"] == 32 and info["frames_collected"] == 4 * 8 + 12 + 12
    clips = dm.read_clips("test", 1)
    assert torch.equal((clips.frames[0] * 255).round().to(torch.uint8), torch.from_numpy(direct.frames))
    assert torch.equal(clips.actions[0], torch.from_numpy(direct.actions))
    with pytest.raises(SeqgenError, match="clips.valid"):
        prepare_atari(["pong"], str(tmp_path / "x"), {"train": 1, "valid": 0, "test": 1})


def test_the_action_transform_changes_the_prediction():
    net = ActionConditionalPredictor(size=32, channels=(4, 8), hidden_size=16, factors=16, levels=8)
    frames = torch.rand(2, 4, 32, 32)
    same = torch.zeros(2, 4, dtype=torch.long)
    other = same.clone()
    other[:, 2] = 3  # the action after frame 2, which leads to frame 3 (prediction index 2)
    out_a, _ = net(frames, same)
    out_b, _ = net(frames, other)
    assert torch.allclose(out_a[:, :2], out_b[:, :2])  # earlier predictions don't see the later action
    assert not torch.allclose(out_a[:, 2], out_b[:, 2], atol=1e-5)


def test_curriculum_feeds_own_predictions_and_trains():
    assert [curriculum_k([[0, 1], [2, 3], [5, 5]], s) for s in (0, 1, 2, 4, 5, 9)] == [1, 1, 3, 3, 5, 5]
    model = tiny_model()
    frames = torch.rand(2, 6, 32, 32)
    actions = torch.randint(0, 18, (2, 6))
    teacher, _ = model.net(frames, actions)
    k3, _ = model.net(frames, actions, observed=3)
    assert torch.allclose(teacher[:, :3], k3[:, :3], atol=1e-6)  # the observed part is identical
    assert not torch.allclose(teacher[:, 3:], k3[:, 3:])  # the last steps ran on the model's own frames
    changed = frames.clone()
    changed[:, 4] = 1 - changed[:, 4]
    k3_changed, _ = model.net(changed, actions, observed=3)
    assert torch.allclose(k3, k3_changed, atol=1e-6)  # so the real frames there are never seen
    moving = torch.zeros(2, 6, 32, 32)  # a bright square moving right on a dark screen: learnable
    for t in range(6):
        moving[:, t, 10:16, 4 * t : 4 * t + 6] = 0.9
    batch = FrameBatch(moving, actions, torch.zeros(2, 6), ["pong", "pong"])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        loss, logs = model.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < first * 0.85 and "bpp" in logs


def test_rollout_shapes_and_range():
    model = tiny_model()
    clips = FrameBatch(torch.rand(2, 9, 32, 32), torch.randint(0, 18, (2, 9)), torch.zeros(2, 9), ["pong", "pong"])
    generated, real = rollouts(model, clips, length=4, actions=None)
    assert generated.shape == (2, 4, 32, 32) and real.shape == (2, 4, 32, 32)
    assert float(generated.min()) >= 0 and float(generated.max()) <= 1
    chosen, none = rollouts(model, clips, length=20, actions=[1, 3])  # chosen actions may outrun the clip
    assert chosen.shape == (2, 20, 32, 32) and none is None
    sampled = model.net.rollout(clips.frames[:, :3], clips.actions[:, :5], sample=True)
    assert sampled.shape == (2, 3, 32, 32)
    assert parse_actions("A1,a3", INFO["action_names"]) == [1, 3] and parse_actions([2, "4"], INFO["action_names"]) == [2, 4]
    with pytest.raises(SeqgenError, match="unknown action"):
        parse_actions("JUMP", INFO["action_names"])


def test_baseline_and_psnr_arithmetic():
    real = torch.zeros(1, 3, 2, 2)
    real[0, 1] = 0.5
    real[0, 2] = 1.0
    last = torch.zeros(1, 2, 2)
    assert np.allclose(copy_last_baseline(last, real), [0.0, 0.25, 1.0])
    assert np.allclose(per_horizon_mse(real, real), 0.0)
    assert np.allclose(psnr([0.01, 1.0]), [20.0, 0.0])
    model = tiny_model()
    clips = FrameBatch(torch.rand(3, 9, 32, 32), torch.randint(0, 18, (3, 9)), torch.zeros(3, 9), ["pong"] * 3)
    errors = horizon_errors(model.net, clips, prefix=3, horizon=10, batch_size=2)
    assert len(errors["k"]) == 6  # 9 frames - 3 prefix
    expected = copy_last_baseline(clips.frames[:, 2], clips.frames[:, 3:9])
    assert np.allclose(errors["baseline_mse"], expected)


def test_residual_connection_starts_near_the_copy_last_baseline():
    torch.manual_seed(0)
    frames = torch.zeros(2, 4, 32, 32)
    frames[:, :, 8:20, 8:20] = 0.8
    actions = torch.zeros(2, 4, dtype=torch.long)
    errors = {}
    for residual in (True, False):
        torch.manual_seed(0)
        net = ActionConditionalPredictor(size=32, channels=(4, 8), hidden_size=16, factors=16, levels=8, residual=residual)
        with torch.no_grad():
            out, _ = net(frames, actions)
        errors[residual] = float((net.expected_frame(out) - frames[:, 1:]).pow(2).mean())
    assert errors[True] < 0.5 * errors[False]
