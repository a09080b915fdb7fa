"""Bad config values are refused before any work, for every command and family, in one line."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from conftest import BIN, CONF, REPO
from seqgen.data.stream import ShardStream
from seqgen.errors import SeqgenError
from seqgen.validate import RULES, Rule, integer, missing_keys, register_rules, validate_config

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
DATA = sorted(p.stem for p in (CONF / "data").glob("[!_]*.yaml"))
MODELS = sorted(p.stem for p in (CONF / "model").glob("[!_]*.yaml"))


_HYDRA: list = []


def _compose(name: str, tmp: Path, overrides: list[str]) -> DictConfig:
    """Compose like the CLI, in one Hydra context for the whole module (composing is the slow part)."""
    from hydra import compose, initialize_config_dir

    if not _HYDRA:
        from seqgen.sweep.spec import register_sweeps

        register_sweeps()
        context = initialize_config_dir(config_dir=str(CONF), version_base="1.3")
        context.__enter__()
        _HYDRA.append(context)
    paths = [f"paths.root_dir={tmp}", f"paths.data_dir={tmp / 'data'}", f"paths.output_dir={tmp / 'run'}"]
    return compose(name, overrides=[*paths, *overrides])


@pytest.fixture(scope="module", autouse=True)
def _close_hydra_context():
    """The module shares one Hydra context; it must not outlive the module (GlobalHydra is global)."""
    yield
    while _HYDRA:
        _HYDRA.pop().__exit__(None, None, None)


def test_every_shipped_config_is_valid(tmp_path: Path) -> None:
    for experiment in EXPERIMENTS:
        validate_config(_compose("train", tmp_path, [f"experiment={experiment}"]), "train")
    for data in DATA:
        # a corpus whose location is mandatory (???) is refused until it is given: give it
        cfg = _compose("prepare", tmp_path, [f"data={data}"])
        mandatory = [f"{key}=x" for key in missing_keys(cfg, ("hydra",))]
        assert all(key.startswith("data.corpus.") for key in mandatory), mandatory
        validate_config(_compose("prepare", tmp_path, [f"data={data}", *mandatory]), "prepare")
    for name in ("eval", "sample"):
        validate_config(_compose(name, tmp_path, ["ckpt=x"]), name)


BAD = [
    ("train", ["data.datamodule.batch_size=-4"], "data.datamodule.batch_size=-4 is out of range", "integer >= 1"),
    ("train", ["data.datamodule.batch_size=0"], "data.datamodule.batch_size=0", "integer >= 1"),
    ("train", ["model.hidden_size=0"], "model.hidden_size=0", "integer >= 1"),
    ("train", ["model.num_layers=-1"], "model.num_layers=-1", "integer >= 1"),
    ("train", ["model.dropout=1.5"], "model.dropout=1.5", "[0, 1)"),
    ("train", ["optim.optimizer.lr=-0.1"], "optim.optimizer.lr=-0.1", "(0, 3.4e38]"),
    ("train", ["optim.optimizer.lr=nan"], "optim.optimizer.lr=nan", "finite"),
    ("train", ["optim=sgd", "optim.optimizer.momentum=1.5"], "optim.optimizer.momentum=1.5", "[0, 1]"),
    ("train", ["optim.grad_clip.value=-1"], "optim.grad_clip.value=-1", "(0, 3.4e38]"),
    ("train", ["trainer.max_steps=-5"], "trainer.max_steps=-5", "-1 (no limit) or an integer >= 1"),
    ("train", ["trainer.max_time=soon"], "trainer.max_time='soon'", "DD:HH:MM:SS"),
    ("train", ["data.datamodule.num_workers=-1"], "data.datamodule.num_workers=-1", "integer >= 0"),
    ("train", ["seed=-3"], "seed=-3", "[0, 4294967295]"),
    ("train", ["experiment=handwriting_synthesis_quickstart", "model.mixture_components=0"], "model.mixture_components=0", ">= 1"),
    # a wrong type (batch_size=abc) is refused earlier, by the typed schema while composing (test_typed_configs.py)
    ("train", ["experiment=handwriting_synthesis_quickstart", "data.datamodule.batch_size=0"], "batch_size=0", ">= 1"),
    ("prepare", ["data=text_file", "data.corpus.path=x", "data.corpus.split=[0.9,0.5,0.1]"], "data.corpus.split=[0.9, 0.5, 0.1]", "summing to at most 1"),
    ("prepare", ["data=handwriting_hershey", "data.corpus.split=[-0.1,0.5,0.1]"], "data.corpus.split", "fractions"),
    ("prepare", ["data=handwriting_hershey_sparse", "data.corpus.points_per_char=[1,4]"], "data.corpus.points_per_char=[1, 4]", "two values, each a finite number in [2, 3.4e38]"),
    ("prepare", ["data=text_embedded", "data.prepare.samples_per_shard=0"], "data.prepare.samples_per_shard=0", ">= 1"),
    ("sample", ["ckpt=x", "temperature=0"], "temperature=0", "(0, 3.4e38]"),
    ("sample", ["ckpt=x", "length=-10"], "length=-10", ">= 1"),
    ("sample", ["ckpt=x", "bias=-1"], "bias=-1", "[0, 3.4e38]"),
    ("sweep", ["sweep=tiny_test", "sweep.max_concurrent_trials=0"], "sweep.max_concurrent_trials=0", ">= 1"),
    ("sweep", ["sweep=tiny_test", "sweep.num_samples=-2"], "sweep.num_samples=-2", ">= 1"),
]


def test_bad_values_are_refused_naming_key_value_and_range(tmp_path: Path) -> None:
    for command, overrides, names, valid in BAD:
        with pytest.raises(SeqgenError) as err:
            validate_config(_compose(command, tmp_path, overrides), command)
        assert names in str(err.value) and valid in str(err.value), (overrides, str(err.value))
        assert "\n" not in str(err.value)


def test_missing_mandatory_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match=r"data\.corpus\.path is mandatory and not set \(\?\?\?\): pass data\.corpus\.path="):
        validate_config(_compose("train", tmp_path, ["data=text_file"]), "train")
    with pytest.raises(SeqgenError, match=r"^ckpt is mandatory"):
        validate_config(_compose("eval", tmp_path, []), "eval")


def test_the_platform_table_checks_the_keys_no_schema_declares() -> None:
    """Keys of the platform (trainer, optimizer, durations, corpora's splits) are checked by pattern
    in any config; a family's own keys are declared by its typed configs (test_typed_configs.py)."""
    cfg = OmegaConf.create(
        {
            "data": {"family": "speech", "corpus": {"split": [0.8, 0.1, 0.1], "clip_seconds": 4.0}},
            "trainer": {"max_steps": 10, "limit_val_batches": 2},
            "optim": {"optimizer": {"lr": 1e-3, "betas": [0.9, 0.999]}},
        }
    )
    validate_config(cfg)
    for key, value, words in [
        ("data.corpus.clip_seconds", -1.0, "(0, 3.4e38]"),
        ("data.corpus.split", [0.8, 0.5, 0.1], "summing to at most 1"),
        ("trainer.max_steps", 0, "-1 (no limit)"),
        ("optim.optimizer.lr", -1.0, "(0, 3.4e38]"),
        ("optim.optimizer.betas", [0.9, 1.5], "two values"),
    ]:
        bad = OmegaConf.create(OmegaConf.to_container(cfg))
        OmegaConf.update(bad, key, value)
        with pytest.raises(SeqgenError, match=re.escape(key)) as err:
            validate_config(bad)
        assert words in str(err.value)


def test_family_hook_adds_its_own_ranges() -> None:
    cfg = OmegaConf.create({"model": {"codebook_size": 3}})
    validate_config(cfg)
    register_rules([Rule(("*.codebook_size",), *integer(16, 65536))])
    try:
        with pytest.raises(SeqgenError, match=r"model\.codebook_size=3 is out of range: must be an integer in \[16, 65536\]"):
            validate_config(cfg)
    finally:
        from seqgen import validate

        validate._EXTRA.clear()
    assert len(RULES) > 20


def test_stream_refuses_a_batch_size_that_would_grow_without_bound() -> None:
    for bad in (-4, 0, 2.5):
        with pytest.raises(SeqgenError, match="batch size"):
            ShardStream(["x.tar"], lambda s: s, list, bad)  # type: ignore[arg-type]


def test_cli_prints_one_error_line_before_any_work(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "seqgen-train"), "data.datamodule.batch_size=-4", f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}", "logger=none"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["seqgen: error: data.datamodule.batch_size=-4 is out of range (train): must be an integer >= 1"], proc.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_cli_missing_value_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([str(BIN / "seqgen-prepare"), "data=text_file", f"hydra.run.dir={tmp_path / 'p'}"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "seqgen: error: data.corpus.path is mandatory and not set (???): pass data.corpus.path=<value> on the command line"
    ], proc.stderr


# ------------------------------------------------------------------ hints name keys that exist

KEY = re.compile(r"(?<![.\w])((?:data|model|optim|trainer|sweep|callbacks|paths|logger)\.[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?==|<|\b)")


def _all_keys(tmp: Path) -> set[str]:
    keys: set[str] = set()

    def collect(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                keys.add(f"{prefix}{k}")
                collect(v, f"{prefix}{k}.")

    configs = [("train", [f"experiment={e}"]) for e in EXPERIMENTS] + [("prepare", [f"data={d}"]) for d in DATA]
    configs += [("train", [f"model={m}"]) for m in MODELS]
    configs += [("train", [f"optim={o}"]) for o in ("adam", "sgd", "rmsprop_graves")] + [("sweep", ["sweep=tiny_test"])]
    for name, overrides in configs:
        cfg = _compose(name, tmp, overrides)
        collect(OmegaConf.to_container(cfg, resolve=False), "")
    return keys


def test_error_hints_name_keys_that_exist(tmp_path: Path) -> None:
    keys = _all_keys(tmp_path)
    wrong = []
    for path in sorted((REPO / "seqgen").rglob("*.py")):
        for call in ast.walk(ast.parse(path.read_text())):
            # the text of every `SeqgenError(...)`: what a user reads and acts on
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "SeqgenError"):
                continue
            for node in ast.walk(call):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    for key in KEY.findall(node.value):
                        if key not in keys and not key.startswith("sweep."):  # sweep.<x>: keys of sweeps/*.yaml
                            wrong.append(f"{path.relative_to(REPO)}: {key}")
    assert not wrong, "hints name keys that no config has:\n" + "\n".join(wrong)
