"""Shared fixtures: a tiny text corpus prepared into shards, and config composition."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

import seqgen  # noqa: F401  (registers the ${seqgen_*:} config resolvers)

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# ../shared beside the checkout (one level further up for a git worktree under wt/)
SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO.parent / "shared")
BIN = REPO / ".venv" / "bin"
# Debian's chromium for the browser tests, driven by Playwright (nothing downloaded)
CHROMIUM = os.environ.get("SEQGEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

TINY_TEXT = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, "
    "it was the season of Darkness, it was the spring of hope, it was the winter of despair.\n"
) * 12


def compose_cfg(config_name: str, tmp: Path, overrides: list[str] | None = None) -> DictConfig:
    """Compose a config as the CLI would, with every path inside `tmp`."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name,
            overrides=[
                f"paths.root_dir={tmp}",
                f"paths.data_dir={tmp / 'data'}",
                f"paths.output_dir={tmp / 'run'}",
                *(overrides or []),
            ],
        )
    with open_dict(cfg):
        pass
    return cfg


def compose_command(command: str, tmp: Path) -> Optional[DictConfig]:
    """The config a single-run `seqgen-*` shell command composes, validated as the command validates
    it before any work (paths inside `tmp`); None for other commands, multiruns and commands with
    `<...>` placeholders left."""
    import re
    import shlex

    from seqgen.cli.sweep import quote_trial_overrides
    from seqgen.sweep.spec import register_sweeps
    from seqgen.validate import validate_config

    tokens = shlex.split(os.path.expandvars(command))
    while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):  # VAR=value before the program
        tokens = tokens[1:]
    program = Path(tokens[0]).name if tokens else ""
    if not program.startswith("seqgen-") or "-m" in tokens or "..." in tokens or any("<" in t for t in tokens):
        return None
    name, overrides = program.removeprefix("seqgen-"), tokens[1:]
    if name == "sweep":
        register_sweeps()
        overrides = quote_trial_overrides(overrides)  # as seqgen-sweep reads its argv
    paths = [f"paths.root_dir={tmp}", f"paths.data_dir={tmp}/data", f"paths.log_dir={tmp}/outputs"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=[*paths, *overrides])
    validate_config(cfg, name)
    return cfg


TINY_TRAIN = [
    "data=text_file",
    "logger=csv",
    "model.hidden_size=32",
    "model.num_layers=2",
    "model.preview_length=20",
    "data.prepare.chunk_length=200",
    "data.prepare.eval_chunk_length=100",
    "data.prepare.samples_per_shard=2",
    "data.prepare.min_train_shards=4",
    "data.datamodule.segment_length=20",
    "data.datamodule.batch_size=4",
    "data.datamodule.eval_batch_size=8",
    "data.datamodule.batches_per_epoch=10",
    "data.datamodule.num_workers=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.last_checkpoint.every_n_steps=5",
]


@pytest.fixture(scope="session")
def tiny_text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "input.txt"
    path.write_text(TINY_TEXT)
    return path


@pytest.fixture(scope="session")
def tiny_text_data(tmp_path_factory: pytest.TempPathFactory, tiny_text_file: Path) -> Path:
    """Shards of the tiny corpus; returns the data root (paths.data_dir)."""
    from hydra.utils import instantiate

    root = tmp_path_factory.mktemp("prepared")
    cfg = compose_cfg("prepare", root, ["data=text_file", f"data.corpus.path={tiny_text_file}", *[o for o in TINY_TRAIN if o.startswith("data.")]])
    instantiate(cfg.data.prepare)
    return root / "data"


@pytest.fixture(scope="session")
def embedded_text_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded corpus prepared as `seqgen-prepare data=text_embedded` does (the text sweeps train
    on it); returns the data root (paths.data_dir)."""
    from hydra.utils import instantiate

    root = tmp_path_factory.mktemp("embedded")
    instantiate(compose_cfg("prepare", root, ["data=text_embedded"]).data.prepare)
    return root / "data"


def tiny_train_cfg(tmp: Path, data_root: Path, text_file: Path, extra: list[str] | None = None) -> DictConfig:
    cfg = compose_cfg("train", tmp, [*TINY_TRAIN, f"data.corpus.path={text_file}", *(extra or [])])
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_root)
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[return-value]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.gpu` tests skip (with the reason) on machines without CUDA."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread() -> Any:
    """torch on one CPU thread for the test: batch-of-one LSTM steps only add OpenMP waits with more
    (and stall on a busy machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def read_json(path: Path) -> Any:
    import json

    return json.loads(Path(path).read_text())


def iam_stroke_xml(strokes: Any, dt: float = 0.02, gap: float = 0.3) -> str:
    """An IAM-OnDB ``lineStrokes`` file (as the corpus ships it) holding `strokes`: each an iterable of
    (x, y) whiteboard points, sampled every `dt` s, with `gap` s between strokes."""
    out = [
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        "<WhiteboardCaptureSession>",
        "  <WhiteboardDescription>",
        '    <SensorLocation corner="top_left"/>',
        '    <DiagonallyOppositeCoords x="6512" y="1376"/>',
        "  </WhiteboardDescription>",
        "  <StrokeSet>",
    ]
    t = 100.0
    for stroke in strokes:
        points = [(float(x), float(y)) for x, y in stroke]
        out.append(f'    <Stroke colour="black" start_time="{t:.2f}" end_time="{t + dt * len(points):.2f}">')
        for x, y in points:
            out.append(f'      <Point x="{x:g}" y="{y:g}" time="{t:.2f}"/>')
            t += dt
        out.append("    </Stroke>")
        t += gap
    out += ["  </StrokeSet>", "</WhiteboardCaptureSession>"]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def finished_text_run(tmp_path_factory: pytest.TempPathFactory, tiny_text_data: Path, tiny_text_file: Path) -> Path:
    """One finished tiny text run (10 steps: best and last checkpoints, no test split, no logger).
    Shared by the test modules: copy it before changing anything in it."""
    from seqgen.training.run import train

    tmp = tmp_path_factory.mktemp("finished_text_run")
    overrides = [*TINY_TRAIN, f"data.corpus.path={tiny_text_file}", f"paths.data_dir={tiny_text_data}", "trainer.max_steps=10", "test=false", "logger=none"]
    cfg = tiny_train_cfg(tmp, tiny_text_data, tiny_text_file, overrides[len(TINY_TRAIN):])
    run = Path(cfg.paths.output_dir)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))  # as seqgen-train's Hydra writes it
    train(cfg, run)
    return run
