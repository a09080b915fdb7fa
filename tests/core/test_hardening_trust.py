"""No code from a run or sweep folder: planted `_target_`s, wrong types and pickled sweep state are
refused before anything runs (no marker file appears); checkpoints resolve inside the folder given."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import CONF
from seqgen.config_trust import allowed_target, check_objects, check_targets
from seqgen.errors import SeqgenError
from seqgen.core.checkpoints import find_checkpoint
from seqgen.training.run import train


@pytest.fixture
def trained(finished_text_run: Path) -> Path:
    return finished_text_run


def _copy(run: Path, tmp: Path) -> Path:
    copy = tmp / "copied_run"
    shutil.copytree(run, copy)
    return copy


def _evaluate(ckpt: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from seqgen.cli import evaluate

    out.mkdir(exist_ok=True)
    monkeypatch.setattr(evaluate, "run_dir", lambda: out)
    return evaluate.run.__wrapped__(OmegaConf.create({"ckpt": str(ckpt), "data_dir": None, "device": "cpu", "recognizer": None}))


# ----------------------------------------------------------------- run-folder YAML


def test_the_allow_list() -> None:
    for good in ("seqgen.families.text.module.TextLSTM", "torch.optim.RMSprop", "torch.optim.lr_scheduler.StepLR",
                 "pytorch_lightning.callbacks.EarlyStopping", "pytorch_lightning.loggers.CSVLogger", "pytorch_lightning.Trainer"):
        assert allowed_target(good), good
    # functions, other modules, and names that would import a module from the working folder
    for bad in ("os.system", "builtins.eval", "subprocess.Popen", "seqgen.io.atomic_write", "evil.Payload", "torch.optim.Adam.__init__", "torch.load"):
        assert not allowed_target(bad), bad


def test_eval_refuses_a_planted_target_and_runs_nothing(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _copy(trained, tmp_path)
    marker = tmp_path / "MARKER"
    config = yaml.safe_load((run / "config_resolved.yaml").read_text())
    config["data"]["datamodule"] = {"_target_": "os.system", "_args_": [f"touch {marker}"]}
    (run / "config_resolved.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.json").unlink()  # (before, a copy's metrics.json led back to the original's files)
    with pytest.raises(SeqgenError, match=r"config_resolved\.yaml: data\.datamodule\._target_='os\.system' is refused"):
        _evaluate(run, tmp_path / "eval", monkeypatch)
    assert not marker.exists()


def test_resume_refuses_a_planted_override_and_runs_nothing(trained: Path, tmp_path: Path) -> None:
    from hydra import initialize_config_dir

    from seqgen.training.resume import resolve_run

    run = _copy(trained, tmp_path)
    marker = tmp_path / "MARKER"
    saved = run / ".hydra" / "overrides.yaml"
    planted = ["+callbacks.evil._target_=os.system", f"+callbacks.evil._args_=['touch {marker}']"]
    saved.write_text(yaml.safe_dump([*yaml.safe_load(saved.read_text()), *planted]))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        with pytest.raises(SeqgenError, match=r"overrides\.yaml: callbacks\.evil\._target_='os\.system' is refused"):
            cfg, out, checkpoint = resolve_run(OmegaConf.create({"resume": str(run)}), ["trainer.max_steps=12"])
            train(cfg, out, checkpoint=checkpoint)  # what seqgen-train does next: it would instantiate the callback
    assert not marker.exists()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing written


def test_wrong_types_loaded_from_disk_are_refused_like_on_the_command_line(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _copy(trained, tmp_path)
    config = yaml.safe_load((run / "config_resolved.yaml").read_text())
    config["callbacks"]["bad"] = 5  # 'int' object has no attribute 'on_exception', deep in Lightning, before
    (run / "config_resolved.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SeqgenError, match=r"callbacks\.bad must be an object .* got 5"):
        _evaluate(run, tmp_path / "eval", monkeypatch)
    config["callbacks"].pop("bad")
    config["data"]["datamodule"]["batch_size"] = -4  # out of range: as strict as the command line
    (run / "config_resolved.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SeqgenError, match=r"config_resolved\.yaml: data\.datamodule\.batch_size=-4 is out of range"):
        _evaluate(run, tmp_path / "eval", monkeypatch)
    with pytest.raises(SeqgenError, match=r"logger\.csv must be an object"):
        check_objects(OmegaConf.create({"logger": {"csv": "yes"}}))
    with pytest.raises(SeqgenError, match="refused"):
        check_targets({"model": {"_target_": "${oc.env:EVIL}"}}, "x.yaml")  # a target must be named literally


def test_a_copied_run_uses_its_own_checkpoints(trained: Path, tmp_path: Path) -> None:
    run = _copy(trained, tmp_path)
    best = json.loads((run / "metrics.json").read_text())["best_checkpoint"]
    assert Path(best).is_absolute() and Path(best).parent.parent == trained  # still names the original
    assert find_checkpoint(run) == run / "checkpoints" / Path(best).name
    (run / "checkpoints" / Path(best).name).unlink()  # replaced: the copy's last.ckpt, never the original's best
    assert find_checkpoint(run) == run / "checkpoints" / "last.ckpt"


# ----------------------------------------------------------------- sweep folders


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _sweep_cfg(tmp: Path, data: Path, text: Path, extra: list[str] = ()):  # type: ignore[no-untyped-def]
    from hydra import compose, initialize_config_dir

    from seqgen.sweep.spec import register_sweeps

    register_sweeps()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("sweep", overrides=[
            "sweep=tiny_test", f"paths.root_dir={tmp}", f"paths.data_dir={data}", f"paths.log_dir={tmp / 'logs'}",
            f"+trial_overrides=[\"data=text_file\",\"data.corpus.path={text}\"]", *extra,
        ])


def test_a_pickled_payload_in_a_sweep_folder_never_runs(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqgen.sweep.runner import run_sweep

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    sweep_dir = tmp_path / "logs" / "sweep" / "tiny_test"
    sweep_dir.mkdir(parents=True)
    marker = tmp_path / "MARKER"
    (sweep_dir / "tuner.pkl").write_bytes(pickle.dumps(_Payload(marker)))  # written by someone else
    cfg = _sweep_cfg(tmp_path, tiny_text_data, tiny_text_file)
    with pytest.raises(SeqgenError, match=r"no valid record .* sweep\.trust_folder=true"):
        run_sweep(cfg, sweep_dir)
    # a forged record (the attacker's own digests, without this user's key) does not verify either
    from seqgen.io import sha256_file

    (sweep_dir / ".seqgen-record.json").write_text(json.dumps({"files": {"tuner.pkl": [sha256_file(sweep_dir / "tuner.pkl")]}, "hmac": "0" * 64}))
    with pytest.raises(SeqgenError, match="no valid record"):
        run_sweep(cfg, sweep_dir)
    assert not marker.exists()


def test_sweep_folder_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqgen.sweep.trust import record_state, verify_sweep_folder

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = tmp_path / "sweep"
    (folder / "trial_1").mkdir(parents=True)
    (folder / "tuner.pkl").write_bytes(b"state one")
    (folder / "trial_1" / "error.pkl").write_bytes(b"a trial's error")
    record_state(folder)
    verify_sweep_folder(folder)  # what seqgen recorded: restored
    assert stat.S_IMODE((tmp_path / "config" / "seqgen" / "state.key").stat().st_mode) == 0o600
    (folder / "tuner.pkl").write_bytes(b"state two")
    record_state(folder)
    verify_sweep_folder(folder)  # every digest seqgen recorded stays accepted (a kill between two saves)
    (folder / "trial_1" / "error.pkl").write_bytes(b"planted")
    with pytest.raises(SeqgenError, match=r"error\.pkl is not the file seqgen recorded"):
        verify_sweep_folder(folder)
    verify_sweep_folder(folder, trust=True)  # the user vouches for it
    (folder / "trial_1" / "error.pkl").write_bytes(b"a trial's error")
    os.chmod(folder, 0o777)
    with pytest.raises(SeqgenError, match=r"writable by others .* chmod go-w"):
        verify_sweep_folder(folder)
    os.chmod(folder, 0o755)
    os.chmod(folder / "tuner.pkl", 0o664)
    with pytest.raises(SeqgenError, match="writable by its group"):
        verify_sweep_folder(folder)
    os.chmod(folder / "tuner.pkl", 0o644)
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)  # as another user sees this folder
    with pytest.raises(SeqgenError, match="not by you"):
        verify_sweep_folder(folder)
