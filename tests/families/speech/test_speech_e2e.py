"""espeak-ng corpus and end to end: prepare a tiny corpus, train a few steps, sample, WAV back."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import BIN, compose_cfg
from seqgen.errors import SeqgenError
from seqgen.families.speech.features import read_wav
from seqgen.families.speech.espeak import clean_phoneme, events_to_segments, sentences_from_corpus
from speech_helpers import needs_espeak


TINY_PREPARE = [
    "data=speech_espeak",
    "data.corpus.n_utterances=40",
    "data.corpus.n_speakers=3",
    "data.corpus.split=[0.8,0.1,0.1]",
    "data.corpus.text_max_bytes=60000",
    "data.features.n_mels=16",
    "data.features.griffin_lim_iters=4",
    "data.prepare.samples_per_shard=4",
]


def test_events_to_segments_and_sentences() -> None:
    events = [(100, "h"), (300, "@"), (500, "'oU"), (900, "_:"), (950, "_"), (990, "w")]
    assert events_to_segments(events, 1200) == [(0, 100, "_"), (100, 300, "h"), (300, 500, "@"), (500, 900, "oU"), (900, 990, "_"), (990, 1200, "w")]
    assert events_to_segments([(0, "a"), (0, "b")], 10) == [(0, 10, "b")]  # zero-length phoneme dropped
    assert clean_phoneme(",aI") == "aI" and clean_phoneme("_!") == "_"
    text = "Return the value. x = f(y) # code here.\n\nAnother sentence with words in it! Short."
    assert sentences_from_corpus(text, 3, 8) == ["Return the value.", "Another sentence with words in it!"] or \
        sorted(sentences_from_corpus(text, 3, 8)) == ["Another sentence with words in it!", "Return the value."]


@needs_espeak
def test_espeak_phoneme_events_are_exact() -> None:
    from seqgen.families.speech.espeak import Espeak

    engine = Espeak.get()
    pcm, events = engine.synth("Hello world.", "en-us+f3", 170, 50, 50)
    segs = events_to_segments(events, len(pcm))
    assert len(pcm) > 0.5 * engine.sample_rate and segs[0][0] == 0 and segs[-1][1] == len(pcm)
    assert all(a[1] == b[0] for a, b in zip(segs, segs[1:]))  # tiles the audio
    assert [p for *_, p in segs if p != "_"][:4] == ["h", "@", "l", "oU"]
    # the first phoneme's audio is not silence, the leading pause is
    first = segs[1]
    assert np.abs(pcm[first[0]:first[1]]).mean() > 5 * (np.abs(pcm[: segs[0][1]]).mean() + 1)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Prepare a tiny espeak-ng corpus and train 3 steps (shared by the tests below)."""
    from seqgen.training.run import train

    tmp = tmp_path_factory.mktemp("speech_e2e")
    cfg = compose_cfg("prepare", tmp, TINY_PREPARE)
    summary = instantiate(cfg.data.prepare, _recursive_=True)
    train_cfg = compose_cfg("train", tmp, [
        "experiment=speech_quickstart", *TINY_PREPARE[1:], "logger=csv", "trainer.max_steps=3", "trainer.max_time=null",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "model.hidden_size=16", "model.max_sample_frames=40",
        "data.datamodule.batch_size=2", "data.datamodule.max_frames=40", "data.datamodule.batches_per_epoch=3",
    ])
    train_cfg = OmegaConf.create(OmegaConf.to_container(train_cfg, resolve=True))
    run = Path(train_cfg.paths.output_dir)
    return {"tmp": tmp, "summary": summary, "run": run, "result": train(train_cfg, run)}


@needs_espeak
def test_prepare_train_sample_wav(trained_run: dict) -> None:
    from seqgen.data.shards import read_meta
    from seqgen.core.family import get_family
    from seqgen.families.speech.datamodule import SpeechDataModule
    from seqgen.core.checkpoints import load_model

    tmp_path, summary, run, result = trained_run["tmp"], trained_run["summary"], trained_run["run"], trained_run["result"]
    data_dir = Path(summary["out_dir"])
    meta = read_meta(data_dir)
    assert meta["family"] == "speech" and len(meta["speakers"]) == 3 and meta["minutes_of_audio"] > 0.3
    assert summary["splits"]["train"]["utterances"] + summary["splits"]["valid"]["utterances"] + \
        summary["splits"]["test"]["utterances"] + sum(meta["skipped"]["counts"].values()) == 40
    assert result["global_step"] == 3 and math.isfinite(result["metrics"]["val/nll"]) and "test/nll" in result["metrics"]
    assert result["fit_cpu_seconds"] > 0 and result["fit_seconds"] > 0  # the time it took, printed by seqgen-train
    # end of run: generated vs real spectrograms, alignment, both WAVs, the report; previews during training
    for name in ("speech-spectrograms.png", "speech-alignment.png", "speech-generated.wav", "speech-real.wav", "speech.md"):
        assert (run / name).stat().st_size > 200, name
    assert "test/mcd_dtw" in result and list((run / "samples").glob("step*.wav"))

    model = load_model(run)
    family = get_family("speech")
    out = tmp_path / "samples"
    sample_cfg = OmegaConf.create({"text": "hello world|print it", "style": 0, "bias": 1.0, "num_samples": 1, "seed": 0, "max_frames": 30})
    files = family.generate(model, sample_cfg, out)
    wavs = sorted(p for p in files.values() if p.endswith(".wav"))
    assert len(wavs) == 2
    spec = model.spec
    for wav in wavs:
        audio, rate = read_wav(wav, spec.sample_rate)
        assert rate == 16000
        frames = len(audio) // spec.hop_length + 1  # Griffin-Lim (centred STFT): hop * (T - 1) samples
        assert 2 <= frames <= 30 and len(audio) == spec.hop_length * (frames - 1)
    assert all(Path(p).stat().st_size > 500 for p in files.values())

    dm = SpeechDataModule(str(data_dir))
    dm.load_info()
    extra = family.report(model, tmp_path / "eval", dm, result["metrics"])
    assert extra["test/mcd_dtw"] > 0 and 0 < extra["test/duration_ratio"] and 0 <= extra["test/alignment_monotonicity"] <= 1
    assert "MCD-DTW" in Path(extra["report"]).read_text()
    with pytest.raises(SeqgenError, match="unknown phonemes"):
        family.generate(model, OmegaConf.create({"phonemes": "h @ zzz", "num_samples": 1}), out)
    with pytest.raises(SeqgenError, match="bias"):
        family.generate(model, OmegaConf.create({"text": "hi", "bias": -1}), out)


@pytest.mark.slow
@needs_espeak
def test_sample_and_eval_cli(trained_run: dict) -> None:
    """`seqgen-sample` primed with a real utterance, and `seqgen-eval`, as a user runs them."""
    run, tmp = trained_run["run"], trained_run["tmp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out_cli = tmp / "cli"
    proc = subprocess.run([str(BIN / "seqgen-sample"), f"ckpt={run}", f"hydra.run.dir={out_cli}", "text=hello world", "style=0",
                           "bias=1.0", "num_samples=1", "max_frames=20"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_wav(out_cli / "sample-00.wav", 16000)[1] == 16000
    out_eval = tmp / "eval_cli"
    proc = subprocess.run([str(BIN / "seqgen-eval"), f"ckpt={run}", f"hydra.run.dir={out_eval}"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out_eval / "metrics.json").read_text())
    assert "test/mcd_dtw" in metrics and "val/nll" in metrics["metrics"]
