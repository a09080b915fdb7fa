"""Atari family: real ALE collection, shards, the gated change, both cores, the curriculum, rollouts, scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from seqgen.errors import SeqgenError  # noqa: E402
from seqgen.families.atari.collect import collect_clips, resolve_game  # noqa: E402
from seqgen.families.atari.config import AtariModelConfig  # noqa: E402
from seqgen.families.atari.datamodule import AtariDataModule, FrameBatch  # noqa: E402
from seqgen.families.atari.generate import parse_actions, rollouts  # noqa: E402
from seqgen.families.atari.module import AtariFramePredictor, curriculum_k  # noqa: E402
from seqgen.families.atari.nets import FramePredictor  # noqa: E402
from seqgen.families.atari.prepare import prepare_atari  # noqa: E402
from seqgen.families.atari.report import clip_scores, game_summaries, object_matches, psnr, rollout_scores  # noqa: E402

INFO = {"family": "atari", "size": 32, "num_actions": 18, "games": ["pong"], "action_names": [f"A{i}" for i in range(18)]}
CORES = [("lstm", 1, True), ("lstm", 2, True), ("feedforward", 4, False)]


def tiny_model(**overrides) -> AtariFramePredictor:
    kwargs = dict(channels=[4, 8], hidden_size=16, factors=16, history=2, curriculum=[[0, 1], [2, 3]], prefix_frames=3, horizon=5)
    kwargs.update(overrides)
    torch.manual_seed(0)
    return AtariFramePredictor(INFO, **kwargs)


def tiny_net(core: str = "lstm", history: int = 1, skips: bool = True, min_change: float = 0.0, opened: bool = True) -> FramePredictor:
    """A tiny predictor; `opened`: random change weights and an open gate, so predictions differ from the input."""
    torch.manual_seed(0)
    config = AtariModelConfig(channels=[4, 8], hidden_size=16, factors=16, core=core, history=history, skips=skips, min_change=min_change)
    net = FramePredictor(32, 18, config)
    if opened:
        with torch.no_grad():
            torch.nn.init.normal_(net.decoder[-1].weight, std=0.3)
            net.decoder[-1].bias.zero_()
    return net


def moving_square(batch: int = 2, steps: int = 6, size: int = 32) -> torch.Tensor:
    frames = torch.zeros(batch, steps, size, size)
    for t in range(steps):
        frames[:, t, 10:16, 4 * t : 4 * t + 6] = 0.8
    return frames


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
    assert [resolve_game(g) for g in ("seaquest", "freeway", "qbert", "MsPacman")] == ["seaquest", "freeway", "qbert", "ms_pacman"]


def test_shards_round_trip(tmp_path):
    summary = prepare_atari(str(tmp_path / "atari"), games=["pong"], clips={"train": 4, "valid": 1, "test": 1}, clip_length=8,
                            eval_clip_length=12, size=32, samples_per_shard=2, min_train_shards=2)
    assert summary["clips"] == {"train": 4, "valid": 1, "test": 1}
    direct = list(collect_clips("pong", 1, 12, seed=2_000_006, size=32))[0]  # the test split's seed
    dm = AtariDataModule(str(tmp_path / "atari"), batch_size=2)
    info = dm.load_info()
    assert info["size"] == 32 and info["frames_collected"] == 4 * 8 + 12 + 12
    clips = dm.read_clips("test", 1)
    assert torch.equal((clips.frames[0] * 255).round().to(torch.uint8), torch.from_numpy(direct.frames))
    assert torch.equal(clips.actions[0], torch.from_numpy(direct.actions))
    with pytest.raises(SeqgenError, match=r"^data.prepare.clips.valid=0 is out of range: must be an integer >= 1"):
        prepare_atari(str(tmp_path / "x"), games=["pong"], clips={"train": 1, "valid": 0, "test": 1})


@pytest.mark.parametrize("core,history,skips", CORES)
def test_an_untrained_model_copies_the_last_frame_exactly(core, history, skips):
    net = tiny_net(core, history, skips, opened=False)
    frames = (torch.rand(2, 7, 32, 32) * 255).round() / 255  # real frames lie on the 8-bit grid
    actions = torch.randint(0, 18, (2, 7))
    assert torch.equal(net(frames, actions[:, :-1]), frames[:, :-1])
    assert torch.equal(net.rollout(frames[:, :3], actions), frames[:, 2:3].expand(-1, 5, -1, -1))  # 3 + 5 - 1 actions
    gate = torch.sigmoid(net.decoder[-1].bias[1].detach())
    assert float(gate) < 0.05  # the gate starts (nearly) closed


@pytest.mark.parametrize("core,history,skips", CORES)
def test_the_action_changes_the_prediction_it_conditions_and_nothing_earlier(core, history, skips):
    net = tiny_net(core, history, skips)
    frames = torch.rand(2, 5, 32, 32)
    same = torch.zeros(2, 4, dtype=torch.long)
    other = same.clone()
    other[:, 2] = 3  # the action after frame 2, which leads to frame 3 (prediction index 2)
    out_a, out_b = net(frames, same), net(frames, other)
    assert torch.equal(out_a[:, :2], out_b[:, :2])
    assert not torch.allclose(out_a[:, 2], out_b[:, 2], atol=1e-3)


def test_the_feedforward_model_sees_its_frame_stack_and_the_recurrent_one_its_past():
    frames = torch.rand(2, 8, 32, 32)
    actions = torch.randint(0, 18, (2, 7))
    changed = frames.clone()
    changed[:, 1] = 1 - changed[:, 1]
    feedforward = tiny_net("feedforward", 4, False)
    a, b = feedforward(frames, actions), feedforward(changed, actions)
    assert not torch.allclose(a[:, 4], b[:, 4], atol=1e-4)  # frame 1 is in the stack of step 4 (frames 1..4)
    assert torch.equal(a[:, 5:], b[:, 5:])  # and in no later one
    recurrent = tiny_net("lstm", 1, True)
    a, b = recurrent(frames, actions), recurrent(changed, actions)
    assert not torch.allclose(a[:, 6], b[:, 6], atol=1e-5)  # the LSTM carries frame 1 to the end


def test_changes_below_min_change_are_not_applied_but_still_learn():
    frames = torch.full((1, 3, 32, 32), 128 / 255)
    actions = torch.zeros(1, 2, dtype=torch.long)
    net = tiny_net(min_change=0.02)
    with torch.no_grad():
        net.decoder[-1].weight.zero_()
        net.decoder[-1].bias.copy_(torch.tensor([0.01, 20.0]))  # gate open, change 0.01 < 0.02
    predicted = net(frames, actions)
    assert torch.equal(predicted, frames[:, :2])
    predicted.sum().backward()  # straight through: the closed dead zone still passes a gradient
    assert float(net.decoder[-1].bias.grad[0]) > 0
    with torch.no_grad():
        net.decoder[-1].bias[0] = 0.1
    assert torch.allclose(net(frames, actions), torch.full((1, 2, 32, 32), round((128 / 255 + 0.1) * 255) / 255))


def test_curriculum_feeds_own_predictions_and_the_weighted_loss_trains():
    assert [curriculum_k([[0, 1], [2, 3], [5, 5]], s) for s in (0, 1, 2, 4, 5, 9)] == [1, 1, 3, 3, 5, 5]
    model = tiny_model()
    with torch.no_grad():
        torch.nn.init.normal_(model.net.decoder[-1].weight, std=0.3)
    frames = torch.rand(2, 6, 32, 32)
    actions = torch.randint(0, 18, (2, 5))
    teacher = model.net(frames, actions)
    k3 = model.net(frames, actions, observed=3)
    assert torch.equal(teacher[:, :3], k3[:, :3])  # the observed part is identical
    assert not torch.allclose(teacher[:, 3:], k3[:, 3:])  # the last steps ran on the model's own frames
    changed = frames.clone()
    changed[:, 3:] = 1 - changed[:, 3:]
    assert torch.equal(k3, model.net(changed, actions, observed=3))  # so the real frames there are never seen

    model = tiny_model(changed_weight=4.0)
    frames = moving_square()
    batch = FrameBatch(frames, torch.zeros(2, 6, dtype=torch.long), torch.zeros(2, 6), ["pong", "pong"])
    loss, logs = model.compute_loss(batch)
    copy_sq = (frames[:, :-1] - frames[:, 1:]).pow(2)  # an untrained model copies; every error is on a changed pixel
    weight = 1 + 4.0 * (frames[:, 1:] != frames[:, :-1]).float()
    assert torch.isclose(loss, (weight * copy_sq).sum() / weight.sum()) and torch.isclose(logs["mse"], copy_sq.mean())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(loss)
    for _ in range(30):
        loss, logs = model.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < first * 0.7 and logs["k"] == 1.0  # no trainer: step 0, k = 1


def test_actions_steer_a_trained_model():
    """A square moves up under action 2 and down under action 5 (ALE's UP/DOWN); after a short training
    the model moves it the way each action says, from the same frames."""
    torch.manual_seed(0)
    size, steps = 32, 8
    actions = torch.randint(0, 2, (16, steps)) * 3 + 2  # 2 or 5 at random
    frames = torch.zeros(16, steps, size, size)
    row = torch.full((16,), 12)
    for t in range(steps):
        frames[torch.arange(16)[:, None], t, row[:, None] + torch.arange(4), 26:29] = 0.9
        row = (row + torch.where(actions[:, t] == 2, -2, 2)).clamp(2, size - 6)
    model = tiny_model(channels=[8, 16], hidden_size=32, factors=32, curriculum=[[0, 1], [60, 3]], changed_weight=10.0)
    batch = FrameBatch(frames, actions, torch.zeros(16, steps), ["pong"] * 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(250):
        loss, _ = model.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    prefix = frames[:2, :2]

    def paddle_row(action: int) -> float:
        chosen = torch.cat([actions[:2, :1], torch.full((2, 3), action)], dim=1)
        last = model.net.rollout(prefix, chosen)[:, -1, :, 26:29]  # the paddle's columns, 3 steps on
        weights = last.sum(dim=(0, 2))
        return float((weights * torch.arange(size)).sum() / weights.sum().clamp_min(1e-6))

    assert paddle_row(2) < paddle_row(5) - 2  # up under UP, down under DOWN


def test_rollout_shapes_and_range():
    model = tiny_model()
    clips = FrameBatch(torch.rand(2, 9, 32, 32), torch.randint(0, 18, (2, 9)), torch.zeros(2, 9), ["pong", "pong"])
    generated, real = rollouts(model, clips, length=4, actions=None)
    assert generated.shape == (2, 4, 32, 32) and real.shape == (2, 4, 32, 32)
    assert float(generated.min()) >= 0 and float(generated.max()) <= 1
    chosen, none = rollouts(model, clips, length=20, actions=[1, 3])  # chosen actions may outrun the clip
    assert chosen.shape == (2, 20, 32, 32) and none is None
    assert parse_actions("A1,a3", INFO["action_names"]) == [1, 3] and parse_actions([2, "4"], INFO["action_names"]) == [2, 4]
    with pytest.raises(SeqgenError, match="unknown action"):
        parse_actions("JUMP", INFO["action_names"])


def test_objects_kept_moved_and_lost():
    background = np.zeros((32, 32))
    real = background.copy()
    real[5:8, 5:7] = 0.8  # a paddle
    real[20, 20] = 0.5  # a ball
    assert object_matches(real, real, background, 2) == (2, 2, 0)
    moved = np.zeros_like(real)
    moved[6:9, 5:7] = 0.8  # the paddle one pixel lower, the ball gone, a blob far away
    moved[28:30, 0:2] = 0.5
    assert object_matches(real, moved, background, 2) == (2, 1, 1)
    faint = real * 0.05  # a blurred ghost is not drawn
    assert object_matches(real, faint, background, 2) == (2, 0, 0)


def test_scores_against_copy_last_per_game():
    real = torch.zeros(2, 3, 4, 4)
    real[:, 1, 0, 0] = 0.5  # one pixel changes at k = 2, and changes back at k = 3
    last = torch.zeros(2, 4, 4)
    clip = torch.cat([last[:, None], real], dim=1)
    generated = real.clone()
    generated[1] = 0.0  # clip 1: a model that never changes anything, i.e. the copy
    scores = clip_scores(generated, last, real, clip)
    assert np.allclose(scores["changed_pixels"], [[0, 1, 1], [0, 1, 1]])
    assert np.allclose(scores["baseline_sq"], [[0, 0.25 / 16, 0]] * 2)
    assert np.allclose(scores["model_sq"], [[0, 0, 0], [0, 0.25 / 16, 0]])
    summaries = game_summaries(scores, ["pong", "breakout"])
    assert set(summaries) == {"pong", "breakout", "all"}
    assert np.allclose(summaries["pong"]["changed_mse"], [0, 0, 0]) and np.allclose(summaries["breakout"]["changed_mse"], [0, 0.25, 0])
    assert np.allclose(summaries["all"]["baseline_changed_mse"], [0, 0.25, 0]) and np.allclose(summaries["all"]["mse"][1], 0.125 / 16)
    assert np.allclose(psnr([0.01, 1.0]), [20.0, 0.0])

    model = tiny_model()  # untrained: exactly the copy, at every horizon of a real rollout
    clips = FrameBatch((torch.rand(3, 9, 32, 32) * 255).round() / 255, torch.randint(0, 18, (3, 9)), torch.zeros(3, 9), ["pong"] * 3)
    scores = rollout_scores(model.net, clips, prefix=3, horizon=10, batch_size=2)
    assert scores["model_sq"].shape == (3, 6)  # 9 frames - 3 prefix
    assert np.array_equal(scores["model_sq"], scores["baseline_sq"]) and scores["baseline_sq"].min() > 0


def test_one_and_two_threads_give_bitwise_the_same_loss_and_gradients():
    """The thread policy may use 2 threads only if they train the model of 1 thread: the convolutions'
    parameter gradients and the loss's sums must not depend on the count (seqgen/nn/reproducible.py)."""
    from seqgen.training.threads import same_numbers

    info = {**INFO, "size": 84}
    torch.manual_seed(0)
    model = AtariFramePredictor(info, channels=(16, 32, 32), hidden_size=32, factors=32, curriculum=[[0, 1]], prefix_frames=3, horizon=5)
    with torch.no_grad():  # an open gate: the gradients reach the encoder
        torch.nn.init.normal_(model.net.decoder[-1].weight, std=0.3)
        model.net.decoder[-1].bias.zero_()
    frames = torch.rand(4, 8, 84, 84)
    batch = FrameBatch(frames, torch.randint(0, 18, (4, 8)), torch.zeros(4, 8), ["pong"] * 4)
    before = torch.get_num_threads()
    try:
        assert same_numbers(model, batch, lambda b: model.compute_loss(b)[0], 2)
    finally:
        torch.set_num_threads(before)
