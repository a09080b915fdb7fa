"""docs/architecture.md "Adding a family", followed from outside seqgen: the toy family in
tests/core/toy_family/ (counting sequences mod V, a GRU) is registered, prepared, trained, sampled
and evaluated through the command-line entry points, with its configs on Hydra's search path."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from seqgen.core import family as registry

HERE = Path(__file__).parent
SEARCH_PATH = f"hydra.searchpath=[file://{HERE / 'toy_family' / 'conf'}]"


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The family registered for this test only (checklist: `register_family_module`)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setattr(registry, "_FAMILY_MODULES", dict(registry._FAMILY_MODULES))
    monkeypatch.setattr(registry, "_LOADED", dict(registry._LOADED))
    registry.register_family_module("toy", "toy_family")


def cli(monkeypatch: pytest.MonkeyPatch, main: Callable[[], Any], *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["seqgen", *args])
    main()


def test_a_toy_family_prepares_trains_samples_and_evaluates(toy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from seqgen.cli import evaluate, prepare, sample, train

    data = f"paths.data_dir={tmp_path / 'data'}"
    cli(monkeypatch, prepare.main, "data=toy", data, SEARCH_PATH, f"hydra.run.dir={tmp_path / 'prepare'}")
    meta = json.loads((tmp_path / "data" / "toy" / "meta.json").read_text())
    assert meta["family"] == "toy" and meta["vocab_size"] == 7

    run = tmp_path / "train"
    cli(monkeypatch, train.main, "experiment=toy_quickstart", data, SEARCH_PATH, "logger=csv", "num_threads=1",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", f"hydra.run.dir={run}")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 30
    assert metrics["metrics"]["test/loss"] < 0.8 * math.log(7)  # learned: below the uniform baseline

    cli(monkeypatch, sample.main, f"ckpt={run}", "length=5", "temperature=0.5", "num_samples=3", f"hydra.run.dir={tmp_path / 'sample'}")
    rows = json.loads((tmp_path / "sample" / "samples.json").read_text())
    assert len(rows) == 3 and all(len(row) == 5 and all(0 <= s < 7 for s in row) for row in rows)

    cli(monkeypatch, evaluate.main, f"ckpt={run}", f"hydra.run.dir={tmp_path / 'eval'}")
    report = (tmp_path / "eval" / "toy_report.md").read_text()
    assert "uniform baseline 1.9459" in report

    # the family's typed options: an option of another family, and a value out of range
    capsys.readouterr()
    for args, needle in (
        (["bias=1"], "bias do(es) not apply to a toy model; its sampling options are: length, temperature"),
        (["temperature=0"], "temperature=0 is out of range (sample): must be a finite number in (0, 3.4e38]"),
    ):
        with pytest.raises(SystemExit) as exit_:
            cli(monkeypatch, sample.main, f"ckpt={run}", *args, f"hydra.run.dir={tmp_path / 'refused'}")
        assert exit_.value.code == 2
        assert capsys.readouterr().err.strip() == f"seqgen: error: {needle}"


def test_a_toy_config_value_out_of_range_is_one_line(toy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from seqgen.cli import train

    with pytest.raises(SystemExit) as exit_:
        cli(monkeypatch, train.main, "experiment=toy_quickstart", "model.hidden_size=0", SEARCH_PATH, f"paths.data_dir={tmp_path}",
            f"hydra.run.dir={tmp_path / 'run'}")
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == "seqgen: error: model.hidden_size=0 is out of range (train): must be an integer >= 1"
