"""Frames from the Arcade Learning Environment (PyPI `ale-py`, whose wheel ships the ROMs).

Collection follows Machado et al. (2018)'s recommended protocol: a seeded random policy over the
game's minimal action set, *sticky actions* (with probability `repeat_action_probability` the
emulator repeats the previous action instead of the chosen one), and frame skip k (the chosen
action is applied k times, rewards summed; the observed frame is the pixel-wise max of the last two
emulator frames, which removes the sprite flicker of many games). Frames are grey, downsampled to
`size` x `size` with area averaging (84 x 84 as in DQN and Oh et al. 2015).

Actions are stored as ALE action ids (0..17, the full legal set), so one model can condition on the
same action alphabet across games; `meta.json` keeps each game's minimal set and the action names.

The frame stream of an episode is cut into clips of `clip_length` frames (the tail of an episode
that is shorter than a clip is dropped, and counted). Each split is collected from its own
episodes (seed + split offset), so no test frame was ever seen in training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from seqgen.errors import SeqgenError

log = logging.getLogger(__name__)

NUM_ACTIONS = 18  # ALE's full legal action set


def _ale_modules() -> tuple[Any, Any]:
    try:
        import ale_py
        from ale_py import roms
    except ImportError as err:  # pragma: no cover - ale-py is a dependency
        raise SeqgenError("ale-py is not installed: pip install ale-py (its wheel ships the Atari ROMs)") from err
    return ale_py, roms


def available_games() -> list[str]:
    """ROM ids shipped with ale-py, e.g. 'pong', 'breakout', 'space_invaders', 'ms_pacman'."""
    _, roms = _ale_modules()
    return sorted(roms.get_all_rom_ids())


def action_names() -> list[str]:
    ale_py, _ = _ale_modules()
    return [ale_py.Action(i).name for i in range(NUM_ACTIONS)]


def resolve_game(name: str) -> str:
    """Normalise 'SpaceInvaders', 'space-invaders' or 'space_invaders' to the ROM id, or fail clearly."""
    _, roms = _ale_modules()
    wanted = str(name).strip().lower().replace("-", "_")
    games = available_games()
    if wanted not in games:
        # CamelCase names as in Gymnasium ids ("MsPacman", "SpaceInvaders")
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in str(name).strip()).lstrip("_").replace("-", "_")
        wanted = snake if snake in games else wanted
    if wanted not in games:
        raise SeqgenError(f"unknown Atari game '{name}'; available games: {', '.join(games)}")
    try:
        path = roms.get_rom_path(wanted)
    except Exception as err:  # noqa: BLE001 - ale-py raises various errors for a missing ROM
        raise SeqgenError(f"the ROM of '{wanted}' is missing ({err}); reinstall ale-py: pip install --force-reinstall ale-py") from err
    if path is None:
        raise SeqgenError(f"the ROM of '{wanted}' is missing; reinstall ale-py: pip install --force-reinstall ale-py")
    return wanted


@dataclass
class Clip:
    game: str
    episode: int
    start: int  # index of the first frame in its episode
    frames: np.ndarray  # (T, size, size) uint8
    actions: np.ndarray  # (T,) int64: action taken after frame t (leads to frame t+1)
    rewards: np.ndarray  # (T,) float32: reward received for that action


def downsample(frame: np.ndarray, size: int) -> np.ndarray:
    """(210, 160) uint8 grey -> (size, size) uint8, area averaging (PIL's BOX filter)."""
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.BOX), dtype=np.uint8)


class GameStream:
    """One game's emulator with a seeded random policy, sticky actions and frame skip."""

    def __init__(self, game: str, seed: int, frame_skip: int = 4, repeat_action_probability: float = 0.25, size: int = 84,
                 max_episode_frames: int = 4500) -> None:
        ale_py, roms = _ale_modules()
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self.game = resolve_game(game)
        if frame_skip < 1:
            raise SeqgenError(f"data.prepare.frame_skip={frame_skip}: must be >= 1")
        if not 0.0 <= repeat_action_probability <= 1.0:
            raise SeqgenError(f"data.prepare.repeat_action_probability={repeat_action_probability}: must be in [0, 1]")
        self.ale = ale_py.ALEInterface()
        self.ale.setInt("random_seed", int(seed) % (2**31 - 1))
        self.ale.setFloat("repeat_action_probability", float(repeat_action_probability))
        self.ale.setInt("max_num_frames_per_episode", int(max_episode_frames) * frame_skip)
        self.ale.loadROM(roms.get_rom_path(self.game))
        self.minimal_actions = [a.value for a in self.ale.getMinimalActionSet()]
        self.rng = np.random.default_rng(seed)
        self.frame_skip = frame_skip
        self.size = size
        h, w = self.ale.getScreenDims()
        self._buffers = (np.empty((h, w), np.uint8), np.empty((h, w), np.uint8))

    def _observe(self) -> np.ndarray:
        return downsample(np.maximum(self._buffers[0], self._buffers[1]), self.size)

    def episodes(self) -> Iterator[Iterator[tuple[np.ndarray, int, float]]]:
        """Endless episodes; each yields (frame, action taken after it, reward of that action)."""
        ale_py, _ = _ale_modules()
        while True:
            self.ale.reset_game()
            self.ale.getScreenGrayscale(self._buffers[0])
            self.ale.getScreenGrayscale(self._buffers[1])
            yield self._episode(ale_py)

    def _episode(self, ale_py: Any) -> Iterator[tuple[np.ndarray, int, float]]:
        while not self.ale.game_over():
            frame = self._observe()
            action = int(self.rng.choice(self.minimal_actions))
            yield frame, action, self.act(action)

    def act(self, action: int) -> float:
        """Apply an ALE action id for `frame_skip` emulator frames (sticky actions apply); the reward."""
        ale_py, _ = _ale_modules()
        reward = 0.0
        for repeat in range(self.frame_skip):
            reward += self.ale.act(ale_py.Action(action))
            slot = repeat - (self.frame_skip - 2)  # the last two emulator frames go to slots 0, 1
            if slot >= 0:
                self.ale.getScreenGrayscale(self._buffers[slot])
            if self.ale.game_over():
                break
        return float(reward)


def collect_clips(game: str, n_clips: int, clip_length: int, seed: int, frame_skip: int = 4,
                  repeat_action_probability: float = 0.25, size: int = 84, stats: dict[str, int] | None = None) -> Iterator[Clip]:
    """`n_clips` clips of `clip_length` frames from consecutive random-policy episodes of `game`."""
    if clip_length < 2:
        raise SeqgenError(f"clip length {clip_length}: must be >= 2 frames")
    stream = GameStream(game, seed, frame_skip, repeat_action_probability, size)
    stats = stats if stats is not None else {}
    made = 0
    for episode, steps in enumerate(stream.episodes()):
        frames: list[np.ndarray] = []
        actions: list[int] = []
        rewards: list[float] = []
        start = 0
        for frame, action, reward in steps:
            frames.append(frame)
            actions.append(action)
            rewards.append(reward)
            stats["frames"] = stats.get("frames", 0) + 1
            if len(frames) == clip_length:
                yield Clip(stream.game, episode, start, np.stack(frames), np.asarray(actions, np.int64), np.asarray(rewards, np.float32))
                made += 1
                if made >= n_clips:
                    return
                start += clip_length
                frames, actions, rewards = [], [], []
        stats["dropped_tail_frames"] = stats.get("dropped_tail_frames", 0) + len(frames)
        stats["episodes"] = stats.get("episodes", 0) + 1

