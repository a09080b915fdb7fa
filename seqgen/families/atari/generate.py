"""`seqgen-sample` for Atari models: roll out frames from a real prefix, under the real future actions
or actions the user chooses.

    seqgen-sample ckpt=<run> length=60                      # real future actions of test clips
    seqgen-sample ckpt=<run> length=80 "actions=[FIRE,LEFT]"  # chosen actions, repeated in turn
    seqgen-sample ckpt=<run> "actions=[3,3,4]"              # ALE action ids
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from seqgen.core.family import get_family
from seqgen.errors import SeqgenError
from seqgen.families.atari.datamodule import AtariDataModule, FrameBatch
from seqgen.families.atari.figures import rollout_gif, strip_png
from seqgen.sampling.budget import check_request


def parse_actions(spec: Any, names: Sequence[str]) -> list[int]:
    """'FIRE,LEFT', ['FIRE', 3] or 3 -> ALE action ids; unknown names fail with the list of names."""
    items = spec.replace(",", " ").split() if isinstance(spec, str) else list(spec) if isinstance(spec, (list, tuple)) or hasattr(spec, "__iter__") else [spec]
    ids = []
    lookup = {name.upper(): i for i, name in enumerate(names)}
    for item in items:
        text = str(item).strip()
        if text.lstrip("-").isdigit():
            value = int(text)
            if not 0 <= value < len(names):
                raise SeqgenError(f"actions: id {value} is out of range 0..{len(names) - 1}")
            ids.append(value)
        elif text.upper() in lookup:
            ids.append(lookup[text.upper()])
        else:
            raise SeqgenError(f"actions: unknown action '{text}'; use ids 0..{len(names) - 1} or names: {', '.join(names)}")
    if not ids:
        raise SeqgenError("actions is empty: give at least one action, e.g. \"actions=[FIRE,LEFT]\"")
    return ids


def rollouts(model: Any, clips: FrameBatch, length: int, actions: list[int] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Generated frames (B, length, S, S) after each clip's real prefix; and the real continuation
    (B, length, S, S) when the real actions are used (None for chosen actions)."""
    prefix = model.config.prefix_frames
    frames, real_actions = clips.frames.to(model.device), clips.actions.to(model.device)
    if prefix >= frames.shape[1]:
        raise SeqgenError(f"clips have {frames.shape[1]} frames, not more than the {prefix}-frame prefix: re-run prepare with a longer eval_clip_length")
    if actions is None:
        length = min(length, frames.shape[1] - prefix)
        chosen = real_actions[:, : prefix + length - 1]
        real = frames[:, prefix : prefix + length]
    else:
        cycle = torch.tensor([actions[i % len(actions)] for i in range(length)], device=model.device)
        chosen = torch.cat([real_actions[:, : prefix - 1], cycle[None].expand(frames.shape[0], -1)], dim=1)
        real = None
    was_training = model.training
    model.eval()
    try:
        generated = model.net.rollout(frames[:, :prefix], chosen)
    finally:
        model.train(was_training)
    return generated, real


def write_rollouts(model: Any, clips: FrameBatch, out_dir: Path, length: int, actions: list[int] | None = None, gifs: int = 1) -> dict[str, Path]:
    generated, real = rollouts(model, clips, length, actions)
    files: dict[str, Path] = {}
    for i in range(generated.shape[0]):
        label = f"{clips.games[i]}"
        rows = [(f"real {label}", real[i]), ("generated", generated[i])] if real is not None else [(f"generated {label}", generated[i])]
        files[f"rollout_{i}"] = strip_png(rows, Path(out_dir) / f"rollout-{i}.png")
        if i < gifs:
            files[f"rollout_{i}_gif"] = rollout_gif(real[i] if real is not None else generated[i], generated[i], Path(out_dir) / f"rollout-{i}.gif")
    return files


def clips_for(ckpt: str, count: int) -> FrameBatch:
    from seqgen.core.checkpoints import find_checkpoint, run_config

    trained = run_config(find_checkpoint(ckpt))
    datamodule = AtariDataModule(str(trained.data.datamodule.data_dir))
    datamodule.load_info()
    return datamodule.read_clips("test", count)


def generate(model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
    count = max(int(cfg.get("num_samples") or 1), 1)
    options = get_family("atari").sample_settings(cfg)  # AtariSampleOptions: null = its default
    length = options.length
    size = int(model.size)
    # generated and real frames (float32), before the clips are read or anything is allocated
    check_request(cfg, f"length={length} frames x num_samples={count} of {size}x{size}", count * length, 2 * size * size * 4, "length or num_samples")
    actions = parse_actions(options.actions, model.action_names) if options.actions is not None else None
    clips = clips_for(str(cfg.ckpt), count)
    files = write_rollouts(model, clips, Path(out_dir), length, actions, gifs=count)
    for path in files.values():
        print(f"wrote {path}")
    return {key: str(path) for key, path in files.items()}
