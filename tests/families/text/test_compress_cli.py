"""seqgen-compress / seqgen-decompress and seqgen-eval dynamic=true on a tiny trained run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import BIN, TINY_TEXT, read_json, tiny_train_cfg
from seqgen.training.run import train

# Bytes the tiny corpus never had (UTF-8, control bytes) between English it did.
MIXED = ("It was the spring of hope, caf\u00e9 \u2014 na\u00efve.\n").encode() + b"\x00\xff\x01" + TINY_TEXT.encode()[:400]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_text_data: Path, tiny_text_file: Path) -> Path:
    tmp = tmp_path_factory.mktemp("compress_run")
    cfg = tiny_train_cfg(tmp, tiny_text_data, tiny_text_file, ["trainer.max_steps=6", "test=false", "num_threads=1"])
    train(cfg, Path(cfg.paths.output_dir), [])
    return Path(cfg.paths.output_dir)


def _cli(command: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / command), *args], capture_output=True, text=True, timeout=600)


def test_compress_then_decompress_in_fresh_processes(tiny_run: Path, tmp_path: Path) -> None:
    source = tmp_path / "mixed.txt"
    source.write_bytes(MIXED)
    packed, unpacked = tmp_path / "mixed.sqz", tmp_path / "mixed.out"
    out = _cli("seqgen-compress", f"ckpt={tiny_run}", f"in={source}", f"out={packed}", f"hydra.run.dir={tmp_path / 'c'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "bits per byte" in out.stdout and "escaped" in out.stdout
    summary = read_json(tmp_path / "c" / "compress.json")
    assert summary["packed_bytes"] == packed.stat().st_size and summary["escaped_units"] >= 5
    out = _cli("seqgen-decompress", f"ckpt={tiny_run}", f"in={packed}", f"out={unpacked}", f"hydra.run.dir={tmp_path / 'd'}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert unpacked.read_bytes() == MIXED


def _decompress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> tuple[int, str]:
    """seqgen-decompress in this process: (exit status, stderr's error line)."""
    from seqgen.cli import compress as cli

    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    monkeypatch.setattr(cli, "run_dir", lambda: folder)
    cfg = OmegaConf.create({"dynamic": None, "streams": None, "threads": None, "data_dir": None,
                            "dynamic_eval": {"method": None, "lr": None}, **options})
    try:
        cli.decompress_run(cfg)
    except SystemExit as stop:
        return int(stop.code or 0), ""
    return 0, ""


def test_wrong_settings_checkpoint_or_a_truncated_file_are_refused(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from seqgen.cli import compress as cli

    source = tmp_path / "text.txt"
    source.write_bytes(MIXED)
    packed, target = tmp_path / "text.sqz", tmp_path / "text.out"
    monkeypatch.setattr(cli, "run_dir", lambda: tmp_path)
    cli.compress_run(OmegaConf.create({"ckpt": str(tiny_run), "in": str(source), "out": str(packed), "dynamic": False,
                                       "streams": 2, "threads": 1, "data_dir": None, "dynamic_eval": {"method": "rms"}}))
    base = {"ckpt": str(tiny_run), "in": str(packed), "out": str(target)}
    assert _decompress(tmp_path, monkeypatch, **base, threads=2)[0] == 2
    assert "threads=1" in capsys.readouterr().err
    assert _decompress(tmp_path, monkeypatch, **base, streams=2)[0] == 0 and target.read_bytes() == MIXED
    target.unlink()

    truncated = tmp_path / "cut.sqz"
    truncated.write_bytes(packed.read_bytes()[:-3])
    assert _decompress(tmp_path, monkeypatch, **{**base, "in": str(truncated)})[0] == 2
    assert "truncated" in capsys.readouterr().err and not target.exists()

    other = tmp_path / "other"  # the same run with one weight changed: another checkpoint
    shutil.copytree(tiny_run, other)
    (other / "metrics.json").unlink(missing_ok=True)  # it names the original's best checkpoint
    for path in (other / "checkpoints").glob("*.ckpt"):
        state = torch.load(path, weights_only=True)
        next(iter(state["state_dict"].values())).add_(1e-3)
        torch.save(state, path)
    assert _decompress(tmp_path, monkeypatch, **{**base, "ckpt": str(other)})[0] == 2
    assert "ckpt=<the same checkpoint>" in capsys.readouterr().err and not target.exists()


def test_eval_dynamic_on_a_file_adds_static_and_dynamic_rows_in_real_bytes(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqgen.cli import evaluate

    source = tmp_path / "unseen.txt"
    source.write_bytes(MIXED)
    out = tmp_path / "eval"
    out.mkdir()
    monkeypatch.setattr(evaluate, "run_dir", lambda: out)
    cfg = OmegaConf.create({
        "ckpt": str(tiny_run), "data_dir": None, "device": "cpu", "dynamic": "tune", "test_file": str(source),
        "dynamic_eval": {"method": "rms", "lr": None, "decay": None, "segment_length": 20, "epsilon": None, "stats_units": 400,
                         "grid": {"lr": [1e-4, 3e-3], "decay": [0.0]}},
    })
    result = evaluate.run.__wrapped__(cfg)
    metrics = result["metrics"]
    assert "test/bpc" not in metrics, "the file replaces the test split"
    assert {"test/bpc_static", "test/bpc_dynamic", "test/bytes_dynamic", "val/bpc"} <= set(metrics)
    assert [row["lr"] for row in result["dynamic"]["tuning"]] == [1e-4, 3e-3]
    rows = {row["method"]: row for row in read_json(out / "compression.json")["rows"]}
    static, dynamic = rows["LSTM 2x32 (static)"], rows["LSTM 2x32 (dynamic)"]
    assert static["bytes"] > 0 and dynamic["bytes"] == metrics["test/bytes_dynamic"]
    assert static["estimate_bpc"] == pytest.approx(metrics["test/bpc_static"])
    # the real size is the estimate plus the header (about 90 bytes on this tiny file)
    assert 0 < static["bytes"] * 8 - static["estimate_bpc"] * len(MIXED) < 8 * 160
    assert "Model size" in (out / "compression.md").read_text() and "PPMd" in (out / "compression.md").read_text()
