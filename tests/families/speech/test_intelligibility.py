"""Intelligibility end to end on a tiny WORLD-feature espeak-ng corpus: a phoneme recogniser and a
speech model trained a few steps each, val/per logged during training (`model.recognizer=`),
`seqgen-eval ... recognizer=` with its report and WAVs; recognisers of other features, another
phone set or another kind refused, naming the difference."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import BIN, compose_cfg, read_json
from seqgen.errors import SeqgenError
from seqgen.families.speech.features import read_wav
from speech_helpers import needs_espeak

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
TINY_WORLD = [
    "data=speech_espeak_world",
    "data.corpus.n_utterances=40",
    "data.corpus.n_speakers=3",
    "data.corpus.split=[0.8,0.1,0.1]",
    "data.corpus.text_max_bytes=60000",
    "data.features.n_mels=16",
    "data.features.n_mcep=12",
    "data.prepare.samples_per_shard=4",
]
TINY_TRAIN = [
    "logger=csv", "num_threads=1", "trainer.max_steps=3", "trainer.max_time=null", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
    "data.datamodule.batch_size=2", "data.datamodule.batches_per_epoch=3",
]


def _train(tmp: Path, name: str, overrides: list[str]) -> tuple[Path, dict]:
    from seqgen.training.run import train

    cfg = compose_cfg("train", tmp, [*overrides, *TINY_WORLD, *TINY_TRAIN, f"paths.output_dir={tmp / name}"])
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    return Path(cfg.paths.output_dir), train(cfg, Path(cfg.paths.output_dir))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from hydra.utils import instantiate

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("intelligibility")
    instantiate(compose_cfg("prepare", tmp, TINY_WORLD).data.prepare, _recursive_=True)
    rec_run, rec = _train(tmp, "rec", ["experiment=speech_recognizer", "model.hidden_size=8", "model.num_layers=1"])
    syn_run, syn = _train(tmp, "syn", ["experiment=speech_quickstart", "model.hidden_size=16", "model.max_sample_frames=40",
                                       "data.datamodule.max_frames=40", f"model.recognizer={rec_run}",
                                       "model.intelligibility.utterances=2", "model.intelligibility.biases=[0,1]"])
    return {"tmp": tmp, "rec_run": rec_run, "rec": rec, "syn_run": syn_run, "syn": syn}


@needs_espeak
def test_recogniser_and_val_per_during_training(runs: dict) -> None:
    rec, syn, syn_run = runs["rec"], runs["syn"], runs["syn_run"]
    assert rec["global_step"] == 3 and "val/per" in rec["metrics"] and "test/per" in rec["metrics"]
    assert "PER" in (runs["rec_run"] / "recognizer.md").read_text()
    for key in ("val/per", "val/per_bias0", "val/per_bias1", "val/per_vocoder", "val/per_real", "val/duration_ratio_bias1", "val/finished_bias0"):
        assert key in syn["metrics"], (key, sorted(syn["metrics"]))
    assert syn["metrics"]["val/per"] == syn["metrics"]["val/per_bias1"]
    assert read_json(syn_run / "metrics.json")["metrics"]["val/per"] == pytest.approx(syn["metrics"]["val/per"])
    for name in ("intelligibility.png", "intelligibility.md", "listen-real.wav", "listen-resynthesised.wav", "listen-generated-bias1.wav"):
        assert (syn_run / name).stat().st_size > 500, name
    # the end-of-run figures carry them, so the media logger (W&B) gets them as audio and an image
    figures = read_json(syn_run / "metrics.json")
    assert Path(figures["listen-generated-bias1"]) == syn_run / "listen-generated-bias1.wav"
    assert Path(figures["intelligibility_plot"]) == syn_run / "intelligibility.png"
    # WORLD features end to end: spectrogram of the decoded envelope, WAVs from the WORLD vocoder
    assert (syn_run / "speech-spectrograms.png").stat().st_size > 1000
    assert read_wav(syn_run / "speech-generated.wav", 16000)[1] == 16000


@needs_espeak
def test_eval_reports_per_at_each_bias_beside_the_floors(runs: dict) -> None:
    out = runs["tmp"] / "eval"
    done = subprocess.run(
        [str(BIN / "seqgen-eval"), f"ckpt={runs['syn_run']}", f"recognizer={runs['rec_run']}", "legibility_lines=3", "biases=[0,2]",
         "select_bias=2", "logger=wandb", f"hydra.run.dir={out}"], capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_json(out / "metrics.json")["metrics"]
    for key in ("test/per", "test/per_bias0", "test/per_bias2", "test/per_vocoder", "test/per_real", "test/per_over_vocoder",
                "test/duration_ratio_bias0", "test/finished_bias2"):
        assert key in metrics, (key, sorted(metrics))
    assert metrics["test/per"] == metrics["test/per_bias2"] and metrics["test/intelligibility_utterances"] == 3
    report = read_json(out / "intelligibility.json")
    assert len(report["utterances"]) == 6 and {u["bias"] for u in report["utterances"]} == {0.0, 2.0}
    assert len(report["real_reads"]) == 3 and report["vocoder"] == "WORLD"
    text = (out / "intelligibility.md").read_text()
    assert "real frames through WORLD (floor)" in text and "generated, bias 2" in text
    real, rate = read_wav(out / "listen-real.wav", 16000)
    assert rate == 16000 and len(real) > 1600  # the real test utterance's own audio, from the shards
    logged = {p.name.split("_")[0] for p in (out / "wandb").glob("offline-run-*/files/media/audio/**/*.wav")}
    assert {"eval/listen-real", "eval/listen-generated-bias0"} <= {f"eval/{n}" for n in logged}, logged  # W&B gets the audio


@needs_espeak
def test_eval_refuses_a_recogniser_that_is_not_one_before_evaluating(runs: dict) -> None:
    out = runs["tmp"] / "eval-refused"
    done = subprocess.run([str(BIN / "seqgen-eval"), f"ckpt={runs['syn_run']}", f"recognizer={runs['syn_run']}", f"hydra.run.dir={out}"],
                          capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "seqgen: error:" in done.stderr and "'recognizer' model" in done.stderr
    assert not (out / "metrics.json").exists()  # refused before any evaluation


@needs_espeak
def test_recognisers_that_do_not_hear_the_model_are_refused(runs: dict) -> None:
    from seqgen.families.recognizer.module import PhonemeRecognizer
    from seqgen.families.speech.intelligibility import check_recognizer, load_phoneme_recognizer
    from seqgen.core.checkpoints import load_model

    model = load_model(runs["syn_run"])
    check_recognizer(model, load_phoneme_recognizer(runs["rec_run"], model))
    info = copy.deepcopy(dict(model.hparams.data_info))
    mel_info = {**info, "features": {**info["features"], "kind": "mel"}}
    with pytest.raises(SeqgenError, match=r"other features.*kind=mel \(recogniser\) vs world \(speech model\)"):
        check_recognizer(model, PhonemeRecognizer(mel_info, hidden_size=4, num_layers=1))
    fewer = {**info, "vocab": {**info["vocab"], "phonemes": info["vocab"]["phonemes"][1:]}}
    first = info["vocab"]["phonemes"][0]
    with pytest.raises(SeqgenError, match=f"another phone set.*unknown to it: {first};"):
        check_recognizer(model, PhonemeRecognizer(fewer, hidden_size=4, num_layers=1))
    with pytest.raises(SeqgenError, match="not a phoneme recogniser"):
        check_recognizer(model, load_model(runs["syn_run"]))
    with pytest.raises(SeqgenError, match="needs a 'recognizer' model"):
        load_phoneme_recognizer(runs["syn_run"], model)
