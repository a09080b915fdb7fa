"""Typed configs (seqgen/core/config.py): the schemas refuse unknown keys and wrong types when the
config is composed, their ranges give one `seqgen: error:` line naming the key, the value and the
range, and checkpoints saved with plain hyper-parameters still load."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from conftest import compose_cfg
from seqgen.core.family import get_family
from seqgen.errors import SeqgenError
from seqgen.validate import validate_config, validate_loaded

GREY = {"levels": 17, "height": 8, "width": 8, "channels": 1, "num_classes": 10, "corpus": "digits", "family": "image"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.hidden_size=0"], "model.hidden_size=0 is out of range: must be an integer >= 1"),
        (["model=image_classifier", "model.patch=0"], "model.patch=0 is out of range: must be an integer >= 1"),
        (["model=image_rowlstm", "model.kernel=4"], "model.kernel=4 is out of range: must be an odd integer >= 1"),
        (["model.output=gauss"], "model.output='gauss' is out of range: must be one of auto, bernoulli, softmax"),
        (["data.prepare.threshold=1.5"], "data.prepare.threshold=1.5 is out of range: must be a finite number in (0, 1]"),
        (["data.datamodule.batches_per_epoch=0"], "data.datamodule.batches_per_epoch=0 is out of range: must be an integer >= 1"),
        (["experiment=recognizer_quickstart", "model.dropout=1.0"], "model.dropout=1.0 is out of range: must be a finite number in [0, 1)"),
        (["experiment=recognizer_quickstart", "model.decoder=viterbi"], "model.decoder='viterbi' is out of range: must be one of greedy, beam"),
    ],
)
def test_a_typed_value_out_of_range_is_named_with_its_range(tmp_path: Path, overrides: list[str], message: str) -> None:
    cfg = compose_cfg("train", tmp_path, ["experiment=image_quickstart", *overrides])
    with pytest.raises(SeqgenError) as err:
        validate_config(cfg, "train")
    assert str(err.value).startswith(message.replace(" is out of range:", " is out of range (train):"))


@pytest.mark.parametrize(("override", "needle"), [("model.hiden_size=3", "hiden_size"), ("model.hidden_size=abc", "model.hidden_size=abc"),
                                                  ("data.prepare.levels=many", "data.prepare.levels=many")])
def test_the_schema_refuses_unknown_keys_and_wrong_types_when_composing(tmp_path: Path, override: str, needle: str) -> None:
    with pytest.raises(ConfigCompositionException, match=needle):
        compose_cfg("train", tmp_path, ["experiment=image_quickstart", override])


def test_the_command_line_prints_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from seqgen.cli import train

    monkeypatch.setattr(sys, "argv", ["seqgen-train", "experiment=image_quickstart", "model=image_rowlstm", "model.kernel=6",
                                      f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "seqgen: error: model.kernel=6 is out of range (train): must be an odd integer >= 1 (the masked convolution has a centre)")


def test_a_loaded_run_config_is_checked_by_its_schemas(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"model": {"_target_": "seqgen.families.image.module.ImageMDLSTM", "hidden_size": -2}})
    with pytest.raises(SeqgenError, match=r"^run/config_resolved.yaml: model.hidden_size=-2 is out of range: must be an integer >= 1$"):
        validate_loaded(cfg, "run/config_resolved.yaml")
    cfg = OmegaConf.create({"model": {"_target_": "seqgen.families.image.module.ImageMDLSTM", "hiden_size": 2}})
    with pytest.raises(SeqgenError, match="model.hiden_size is not an option of ImageMDLSTMConfig: its options are max_nonfinite_steps, output, preview_count, preview_temperature, hidden_size, num_layers$"):
        validate_loaded(cfg, "run/config_resolved.yaml")


def test_checkpoints_with_plain_hyperparameters_load_and_bad_ones_are_refused(tmp_path: Path) -> None:
    from seqgen.core.checkpoints import FORMAT, load_model
    from seqgen.families.image.module import ImageMDLSTM

    # the hyper-parameters as checkpoints written before the typed configs hold them
    saved = {"data_info": GREY, "hidden_size": 4, "num_layers": 1, "output": "auto", "preview_count": 16,
             "preview_temperature": 1.0, "optim": None, "max_nonfinite_steps": 25}
    model = ImageMDLSTM(**saved)
    assert (model.config.hidden_size, model.config.output) == (4, "auto")
    assert dict(model.hparams) == {**saved, "data_info": GREY}  # saved again as plain values, no _target_
    path = tmp_path / "model.ckpt"
    meta = {"family": "image", "class": "ImageMDLSTM", "format": FORMAT}
    torch.save({"seqgen": meta, "hyper_parameters": saved, "state_dict": model.state_dict()}, path)
    loaded = load_model(path)
    assert torch.equal(loaded.net.head.weight, model.net.head.weight)
    torch.save({"seqgen": meta, "hyper_parameters": {**saved, "num_layers": 0}, "state_dict": {}}, path)
    with pytest.raises(SeqgenError, match=r"model.ckpt: its saved hyper-parameters are refused: model.num_layers=0 is out of range"):
        load_model(path)


def test_sampling_options_are_typed_per_family() -> None:
    image = get_family("image")
    assert image.sample_options == frozenset({"temperature"})
    assert image.sample_settings(OmegaConf.create({"temperature": None})).temperature == 1.0  # null: the default
    assert image.sample_settings(OmegaConf.create({"temperature": 0.5})).temperature == 0.5
    with pytest.raises(SeqgenError, match=r"^temperature=-1.0 is out of range: must be a finite number in \(0, 3.4e38\]$"):
        image.sample_settings(OmegaConf.create({"temperature": -1}))
    with pytest.raises(SeqgenError, match=r"^temperature='warm' is not a number$"):
        image.sample_settings(OmegaConf.create({"temperature": "warm"}))


def test_documented_sampling_overrides_keep_their_spelling(tmp_path: Path) -> None:
    cfg = compose_cfg("sample", tmp_path, ["ckpt=x", "bias=1", "text=a|b", "layout.page=A5", "gcode.pen=z", "temperature=0.5",
                                           "prime=The ", "phonemes=h @", "actions=[FIRE]", "max_frames=9"])
    assert (cfg.bias, cfg.text, cfg.layout.page, cfg.gcode.pen, cfg.temperature, cfg.actions[0]) == (1, "a|b", "A5", "z", 0.5, "FIRE")


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("model.hidden_size=abc", "Error merging override model.hidden_size=abc; Value 'abc' of type 'str' could not be converted to Integer"),
        ("model.hiden_size=3", "Could not override 'model.hiden_size'; Key 'hiden_size' not in 'ImageMDLSTMConfig'"),
        ("model=nope", "In 'train': Could not find 'model/nope'; available options in 'model': atari_"),
        ("data.datamodule.batch_size=abc", "Error merging override data.datamodule.batch_size=abc; Value 'abc' of type 'str' could not be"),
    ],
)
def test_a_config_that_cannot_be_composed_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], override: str, line: str) -> None:
    from seqgen.cli import train

    monkeypatch.setattr(sys, "argv", ["seqgen-train", "experiment=image_quickstart", override, f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"seqgen: error: {line}") and "\n" not in err
