"""Typed configs (seqgen/core/config.py): the schemas refuse unknown keys and wrong types when the
config is composed, their ranges give one `seqgen: error:` line naming the key, the value and the
range, and checkpoints saved with plain hyper-parameters still load."""

from __future__ import annotations

import re
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
    with pytest.raises(SeqgenError, match=r"^temperature=-1 is out of range: must be a finite number in \(0, 3.4e38\]$"):
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


# --- the atari model, prepare of handwriting / speech / atari, speech's features, handwriting's sampling options


@pytest.mark.parametrize(
    ("command", "overrides", "message"),
    [
        ("train", ["experiment=atari_quickstart", "model.history=20"], "model.history=20 is out of range (train): must be an integer in [1, 16]"),
        ("train", ["experiment=atari_quickstart", "model=atari_feedforward", "model.core=gru"],
         "model.core='gru' is out of range (train): must be one of lstm, feedforward"),
        ("train", ["experiment=atari_quickstart", "model.curriculum=[[5,1],[0,2]]"], "model.curriculum=[[5, 1], [0, 2]] is out of range (train): must be sorted"),
        ("train", ["experiment=atari_quickstart", "model.min_change=1.5"], "model.min_change=1.5 is out of range (train): must be a finite number in [0, 1)"),
        ("train", ["experiment=atari_quickstart", "model.channels=[8,0]"], "model.channels=[8, 0] is out of range (train): must be one or more widths >= 1"),
        ("prepare", ["data=atari", "data.prepare.size=8"], "data.prepare.size=8 is out of range (prepare): must be an integer in [16, 210]"),
        ("prepare", ["data=atari", "data.prepare.clips.valid=0"], "data.prepare.clips.valid=0 is out of range (prepare): must be an integer >= 1"),
        ("prepare", ["data=atari", "data.prepare.repeat_action_probability=1.5"],
         "data.prepare.repeat_action_probability=1.5 is out of range (prepare): must be a finite number in [0, 1]"),
        ("prepare", ["data=handwriting_hershey", "data.prepare.min_points=0"], "data.prepare.min_points=0 is out of range (prepare): must be an integer >= 1"),
        ("prepare", ["data=iam_ondb", "data.prepare.seed=-1"], "data.prepare.seed=-1 is out of range (prepare): must be an integer in [0, 4294967295]"),
        ("prepare", ["data=speech_espeak", "data.prepare.max_frames=0"], "data.prepare.max_frames=0 is out of range (prepare): must be an integer >= 1"),
        ("prepare", ["data=speech_espeak", "data.features.kind=wav"], "data.features.kind='wav': use one of linear, mel, mfcc, world"),
        ("train", ["experiment=speech_quickstart", "data.features.n_fft=100"], "data.features.win_length=400 must be in (0, n_fft=100]"),
        ("train", ["experiment=writer_id_sparse", "model.subsample=0"], "model.subsample=0 is out of range (train): must be an integer >= 1"),
        ("sample", ["ckpt=x", "bias=-1"], "bias=-1 is out of range (sample): must be a finite number in [0, 3.4e38]"),
        ("sample", ["ckpt=x", "best_of=40"], "best_of=40 is out of range (sample): must be a whole number of candidates in [1, 32]"),
        ("sample", ["ckpt=x", "unknown_chars=keep"], "unknown_chars='keep' is out of range (sample): must be one of error, drop"),
        ("sample", ["ckpt=x", "max_points=0"], "max_points=0 is out of range (sample): must be an integer >= 1"),
        ("sample", ["ckpt=x", "layout.width=40ch", "layout.dpi=5"], "layout.dpi=5: give a whole number in [30, 1200]"),
        ("sample", ["ckpt=x", "layout.page=A4", "gcode.feed_draw=0"], "gcode.feed_draw=0.0: give a feed rate in mm/min between 1 and 100000"),
        ("sample", ["ckpt=x", "gcode.pen=z"], "gcode.* options apply to a page: give layout.page=A4 or layout.width=40ch as well"),
        ("sample", ["ckpt=x", "layout.x_height=abc"], "layout.x_height='abc' is not a number"),
    ],
)
def test_each_family_refuses_an_out_of_range_value_naming_key_value_and_range(tmp_path: Path, command: str, overrides: list[str],
                                                                              message: str) -> None:
    cfg = compose_cfg(command, tmp_path, overrides)
    with pytest.raises(SeqgenError) as err:
        validate_config(cfg, command)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("command", "overrides", "needle"),
    [
        ("train", ["experiment=atari_quickstart", "model.histroy=2"], "Key 'histroy' not in 'AtariModelConfig'"),
        ("prepare", ["data=atari", "data.prepare.clip_lenght=8"], "Key 'clip_lenght' not in 'AtariPrepareConfig'"),
        ("prepare", ["data=handwriting_hershey", "data.prepare.min_point=3"], "Key 'min_point' not in 'HandwritingPrepareConfig'"),
        ("prepare", ["data=speech_espeak", "data.prepare.n_prime=3"], "Key 'n_prime' not in 'SpeechPrepareConfig'"),
        ("prepare", ["data=speech_espeak", "data.features.n_ft=256"], "data.features.n_ft"),
        ("sample", ["ckpt=x", "layout.colour=red"], "layout.colour"),
        ("sample", ["ckpt=x", "gcode.speed=3"], "gcode.speed"),
        ("train", ["experiment=atari_quickstart", "model.history=two"], "model.history=two"),
        ("train", ["experiment=writer_id_sparse", "model.embed_size=8"], "Key 'embed_size' not in 'WriterIdConfig'"),
    ],
)
def test_each_family_refuses_a_misspelt_key_when_composing(tmp_path: Path, command: str, overrides: list[str], needle: str) -> None:
    from seqgen.core.config import composition_error

    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(command, tmp_path, overrides)
    assert needle in str(composition_error(err.value))


@pytest.mark.parametrize(
    ("command", "argv", "line"),
    [
        ("train", ["experiment=atari_quickstart", "model.horizon=0"], "model.horizon=0 is out of range (train): must be an integer >= 1"),
        ("prepare", ["data=speech_espeak", "data.prepare.samples_per_shard=0"],
         "data.prepare.samples_per_shard=0 is out of range (prepare): must be an integer >= 1"),
        ("sample", ["ckpt=x", "layout.page=A4", "layout.align=middle"], "layout.align='middle': give left, right, centre or justify"),
        ("prepare", ["data=handwriting_hershey", "data.prepare.n_styls=2"],
         "Could not override 'data.prepare.n_styls'; Key 'n_styls' not in 'HandwritingPrepareConfig'"),
    ],
)
def test_the_command_line_prints_one_error_line_for_every_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str], command: str, argv: list[str],
                                                                  line: str) -> None:
    import importlib

    cli = importlib.import_module(f"seqgen.cli.{command}")
    monkeypatch.setattr(sys, "argv", [f"seqgen-{command}", *argv, f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"seqgen: error: {line}") and "\n" not in err
    assert not (tmp_path / "data").exists()  # refused before any work


def test_handwriting_sampling_options_are_typed_with_nested_layout_and_gcode() -> None:
    handwriting = get_family("handwriting")
    assert {"layout", "gcode", "best_of", "unknown_chars"} <= handwriting.sample_options
    given = OmegaConf.create({"bias": 1, "text": "a|b", "layout": {"width": "40ch", "margins": [10, 15], "align": "center"},
                              "gcode": {"pen": "z", "offset": [1, 2], "header": "G21"}, "temperature": 0.5})
    options = handwriting.sample_settings(given)
    assert (options.bias, options.text, options.best_of, options.unknown_chars) == (1.0, "a|b", 1, "error")
    assert options.layout.requested and options.layout.sheet == "A4" and options.layout.margins == (10.0, 15.0, 10.0, 15.0)
    assert options.layout.align == "centre" and options.gcode.offset == (1.0, 2.0) and options.gcode.header == ("G21",)
    assert not handwriting.sample_settings(OmegaConf.create({"layout": {"page": None}})).layout.requested  # null: not given


def test_prepare_functions_build_their_typed_configs(tmp_path: Path) -> None:
    from seqgen.families.handwriting.prepare import prepare_handwriting
    from seqgen.families.speech.prepare import prepare_speech

    with pytest.raises(SeqgenError, match=r"^data.prepare.n_styles=0 is out of range: must be an integer >= 1$"):
        prepare_handwriting(None, str(tmp_path / "hw"), n_styles=0)
    with pytest.raises(SeqgenError, match=r"^data.features.n_ft is not an option of FeatureSpec"):
        prepare_speech(None, str(tmp_path / "speech"), {"n_ft": 256})
    assert not (tmp_path / "hw").exists() and not (tmp_path / "speech").exists()


LEGACY = Path(__file__).parent / "data" / "checkpoints_before_typed_networks.json"


@pytest.mark.parametrize(("family", "name"), [("atari", "AtariFramePredictor"), ("handwriting", "HandwritingPrediction"),
                                              ("handwriting", "HandwritingSynthesis"), ("speech", "SpeechSynthesis"),
                                              ("writer_id", "WriterClassifier")])
def test_checkpoints_written_before_the_networks_took_their_configs_load(tmp_path: Path, family: str, name: str) -> None:
    """The hyper-parameters and parameter names a checkpoint held before (captured from the code
    of a61c4af): the typed config is built from them and every tensor finds its parameter."""
    import json

    from seqgen.core.checkpoints import FORMAT, load_model

    legacy = json.loads(LEGACY.read_text())[name]
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) for key, shape in legacy["state"].items()}
    path = tmp_path / "old.ckpt"
    torch.save({"seqgen": {"family": family, "class": name, "format": FORMAT}, "hyper_parameters": legacy["hparams"], "state_dict": state}, path)
    model = load_model(path)
    assert {key: list(value.shape) for key, value in model.state_dict().items()} == legacy["state"]
    key = next(iter(state))
    assert torch.equal(model.state_dict()[key], state[key])
    options = {k: v for k, v in legacy["hparams"].items() if k not in ("data_info", "optim")}
    assert {k: getattr(model.config, k) for k in options} == options
