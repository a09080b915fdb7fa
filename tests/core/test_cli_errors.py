"""Bad input gets one clear error line (no traceback wall) and exit status 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from conftest import BIN, tiny_train_cfg

TINY = ["model.hidden_size=16", "model.num_layers=1", "logger=csv", "trainer.enable_progress_bar=false"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("seqgen: error:")]
    assert len(lines) == 1, out.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0]


def test_missing_dataset_path(tmp_path: Path) -> None:
    out = run("seqgen-prepare", "data=enwik8", f"data.corpus.root={tmp_path}/nowhere", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert_one_line_error(out, "nowhere", "data.corpus")


def test_corpus_smaller_than_one_segment(tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text("too short")
    out = run("seqgen-prepare", "data=text_file", f"data.corpus.path={tmp_path / 'small.txt'}", f"paths.data_dir={tmp_path}/d", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert_one_line_error(out, "segment")


def test_training_without_prepared_data(tmp_path: Path) -> None:
    out = run("seqgen-train", f"paths.data_dir={tmp_path}/empty", f"hydra.run.dir={tmp_path}/h", *TINY, cwd=tmp_path)
    assert_one_line_error(out, "seqgen-prepare")


def test_unknown_config_value_is_short(tmp_path: Path) -> None:
    out = run("seqgen-train", "model=does_not_exist", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert out.returncode != 0
    assert "does_not_exist" in out.stderr and "Traceback" not in out.stderr
    out = run("seqgen-train", "model.no_such_key=3", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert out.returncode != 0 and "no_such_key" in out.stderr and "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_text_data: Path, tiny_text_file: Path) -> Path:
    from seqgen.training.run import train

    tmp = tmp_path_factory.mktemp("trained")
    cfg = tiny_train_cfg(tmp, tiny_text_data, tiny_text_file, ["trainer.max_steps=5", "test=false"])
    train(cfg, Path(cfg.paths.output_dir))
    return Path(cfg.paths.output_dir)


def test_sampling_with_unknown_characters(tmp_path: Path, trained_run: Path) -> None:
    out = run("seqgen-sample", f"ckpt={trained_run}", "prime='Zebra ☃'", "length=5", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert_one_line_error(out, "vocabulary", "'Z'")


def test_checkpoint_of_another_family(tmp_path: Path, trained_run: Path) -> None:
    from seqgen.core.checkpoints import load_model
    from seqgen.errors import SeqgenError

    with pytest.raises(SeqgenError, match="'text' checkpoint but this needs a 'handwriting'"):
        load_model(trained_run, family="handwriting")
    state = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=False)
    state["seqgen"]["family"] = "handwriting"
    state["seqgen"]["class"] = "seqgen.families.text.module.TextLSTM"
    fake = tmp_path / "other.ckpt"
    torch.save(state, fake)
    with pytest.raises(SeqgenError, match="'handwriting' checkpoint but this needs a 'text'"):
        load_model(fake, family="text")
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint")
    out = run("seqgen-sample", f"ckpt={tmp_path / 'garbage.ckpt'}", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert_one_line_error(out, "garbage.ckpt")


class _RunsCode:
    """Pickles to a call of os.system: what a booby-trapped checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_runs_nothing(tmp_path: Path) -> None:
    from seqgen.errors import SeqgenError
    from seqgen.core.checkpoints import load_model

    marker = tmp_path / "code-ran"
    run_dir = tmp_path / "evil"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text("[]\n")
    (run_dir / "config_resolved.yaml").write_text("{}\n")
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    torch.save({"seqgen": {"family": "text", "class": "TextLSTM", "format": 2}, "state_dict": {}, "x": _RunsCode(marker)}, ckpt)

    with pytest.raises(SeqgenError, match="refused"):
        load_model(ckpt)
    for command in (
        ["seqgen-sample", f"ckpt={ckpt}"],
        ["seqgen-eval", f"ckpt={run_dir}"],
        ["seqgen-train", f"resume={run_dir}"],
        ["seqgen-train", "resume=auto", f"hydra.run.dir={run_dir}", *TINY],
    ):
        extra = [] if "resume=auto" in command else [f"hydra.run.dir={tmp_path}/h"]
        out = run(*command, *extra, cwd=tmp_path)
        assert_one_line_error(out, "refused", "weights_only")
        assert not marker.exists(), f"{command[0]} ran code from the checkpoint"
    # the file really is booby-trapped: a plain torch.load runs it
    torch.load(ckpt, weights_only=False)
    assert marker.exists()


def test_old_checkpoints_load_or_are_refused_clearly(tmp_path: Path, trained_run: Path) -> None:
    from omegaconf import OmegaConf

    from seqgen.errors import SeqgenError
    from seqgen.core.checkpoints import load_model

    state = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    data = state["seqgen"].pop("data")  # the data identity (hardening): fingerprint and vocabulary, plain types
    assert state["seqgen"] == {"family": "text", "class": "TextLSTM", "format": 2}
    assert data["fingerprint"] and data["vocab"]["kind"] == "char"
    # before the family layout: a dotted class path into seqgen.models (plain contents) still loads
    state["seqgen"] = {"family": "text", "class": "seqgen.models.text.TextLSTM"}
    torch.save(state, tmp_path / "old.ckpt")
    assert type(load_model(tmp_path / "old.ckpt")).__name__ == "TextLSTM"
    # one that holds config objects (not plain types) is refused with the reason
    state["hyper_parameters"] = OmegaConf.create(state["hyper_parameters"])
    torch.save(state, tmp_path / "objects.ckpt")
    with pytest.raises(SeqgenError, match="weights_only=True.*retrain"):
        load_model(tmp_path / "objects.ckpt")
    # a class name outside the family's allow-list is never imported
    state = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    state["seqgen"]["class"] = "os.system"
    torch.save(state, tmp_path / "foreign.ckpt")
    with pytest.raises(SeqgenError, match="does not have"):
        load_model(tmp_path / "foreign.ckpt")


def test_sampling_options_of_another_family_are_refused(tmp_path: Path, trained_run: Path) -> None:
    out = run("seqgen-sample", f"ckpt={trained_run}", "bias=1.0", "style=3", "length=5", f"hydra.run.dir={tmp_path}/h", cwd=tmp_path)
    assert_one_line_error(out, "bias, style", "text model", "prime, temperature")
