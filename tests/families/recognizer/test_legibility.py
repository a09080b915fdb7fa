"""Legibility end to end on a tiny corpus: a tiny recogniser and a tiny synthesis model (a few steps
each), the legibility callback during synthesis training (`model.recognizer=`), `seqgen-eval ...
recognizer=`, the alphabet check; and the evaluation arithmetic with known readers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf, open_dict

from conftest import BIN, compose_cfg, read_json
from seqgen.errors import SeqgenError
from seqgen.eval.legibility import evaluate_legibility, write_legibility
from seqgen.families.handwriting.legibility import legibility_of_model, load_recognizer
from seqgen.core.checkpoints import load_model
from seqgen.training.run import train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}

TINY_DATA = [
    "data=handwriting_hershey",
    "data.corpus.n_lines=48",
    "data.corpus.n_writers=4",
    "data.corpus.min_chars=3",
    "data.corpus.max_chars=8",
    "data.corpus.text_max_bytes=40000",
    "data.corpus.split=[0.6,0.2,0.2]",
    "data.prepare.samples_per_shard=8",
    "data.prepare.min_train_shards=2",
    "data.prepare.n_styles=2",
]
TINY_TRAIN = [
    "logger=csv",
    "optim=adam",
    "num_threads=1",
    "data.datamodule.batch_size=4",
    "data.datamodule.eval_batch_size=8",
    "data.datamodule.batches_per_epoch=3",
    "data.datamodule.num_workers=0",
    "trainer.max_steps=3",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.num_sanity_val_steps=0",
    "test=false",
]


def _train(tmp: Path, data_root: Path, extra: list[str]) -> tuple[Path, dict]:
    cfg = compose_cfg("train", tmp, [*TINY_DATA, *TINY_TRAIN, *extra])
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_root)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    run = Path(cfg.paths.output_dir)
    return run, train(cfg, run)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hydra.utils import instantiate

    root = tmp_path_factory.mktemp("legibility_data")
    instantiate(compose_cfg("prepare", root, TINY_DATA).data.prepare)
    return root / "data"


def test_legibility_end_to_end(tmp_path: Path, tiny_data: Path) -> None:
    torch.set_num_threads(1)
    rec_run, rec = _train(tmp_path / "rec", tiny_data, ["model=recognizer", "model.hidden_size=8", "model.num_layers=1", "model.subsample=2"])
    assert rec["global_step"] == 3 and "val/cer" in rec["metrics"]
    assert (rec_run / "recognizer.md").exists()  # family report at the end of the run

    syn_run, syn = _train(
        tmp_path / "syn", tiny_data,
        ["model=handwriting_synthesis", "model.hidden_size=8", "model.num_layers=1", "model.mixture_components=2",
         "model.window_components=1", "model.preview_text=ab", "model.sample_texts=[ab]", f"model.recognizer={rec_run}",
         "model.legibility.biases=[1.0]", "model.legibility.lines=3"],
    )
    for key in ("val/cer", "val/cer_bias1", "val/cer_real", "val/runon_bias1", "val/dropped_bias1"):
        assert key in syn["metrics"], (key, sorted(syn["metrics"]))
    assert (syn_run / "legibility.png").stat().st_size > 1000
    assert read_json(syn_run / "metrics.json")["metrics"]["val/cer"] == pytest.approx(syn["metrics"]["val/cer"])

    out = tmp_path / "eval"
    done = subprocess.run(
        [str(BIN / "seqgen-eval"), f"ckpt={syn_run}", f"recognizer={rec_run}", "legibility_lines=3", "biases=[0,2]",
         "select_bias=2", f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=600, env=ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_json(out / "metrics.json")["metrics"]
    for key in ("test/cer", "test/cer_bias0", "test/cer_bias2", "test/cer_real", "test/runon_bias0", "test/dropped_bias2"):
        assert key in metrics, (key, sorted(metrics))
    assert metrics["test/cer"] == metrics["test/cer_bias2"] and metrics["test/legibility_lines"] == 3
    lines = read_json(out / "legibility.json")["lines"]
    assert len(lines) == 6 and {line["bias"] for line in lines} == {0.0, 2.0}
    assert (out / "legibility.png").exists() and "| 0 |" in (out / "legibility.md").read_text()
    assert (out / "legibility_samples.png").stat().st_size > 1000

    # a recogniser that cannot read some of the model's characters: named in the error
    model, recognizer = load_model(syn_run), load_recognizer(rec_run)
    recognizer.vocab = [ch for ch in recognizer.vocab if ch not in "ae"]
    with pytest.raises(SeqgenError, match="cannot read 2 character.*'a', 'e'"):
        legibility_of_model(model, recognizer, None)
    # and a synthesis checkpoint passed as the recogniser is refused
    with pytest.raises(SeqgenError, match="recognizer"):
        load_recognizer(syn_run)


def test_evaluate_legibility_counts_runon_and_dropped(tmp_path: Path) -> None:
    texts = ["hello", "world", "abcdefghij"]

    class Written:
        def __init__(self, n: int) -> None:
            self.offsets = [np.zeros((4, 3), np.float32)] * n
            self.ended = [True, False, True]  # line 1 hit its point limit: it runs on

    reads = {0.0: ["hxllo", "world", "abc"], 1.0: ["hello", "world", "abcdefghijklmnop"]}
    calls: list[float] = []

    def write(batch: list[str], bias: float) -> Written:
        calls.append(bias)
        return Written(len(batch))

    n_reads: list[int] = []

    def read(lines: list[np.ndarray]) -> list[str]:
        n_reads.append(len(lines))
        return reads[calls[-1]] if len(n_reads) <= 2 else ["hello", "world", "abcdefghij"]  # 3rd read: the real lines

    real = [np.zeros((4, 3), np.float32)] * 3
    calls_real = evaluate_legibility(write, read, texts, [0.0, 1.0], real)
    total = 5 + 5 + 10
    assert calls_real.cer[0.0] == pytest.approx((1 + 0 + 7) / total)
    assert calls_real.cer[1.0] == pytest.approx((0 + 0 + 6) / total)
    assert calls_real.dropped == {0.0: 1, 1.0: 0}
    assert calls_real.runon == {0.0: 1, 1.0: 2}  # not ended; recognised text far longer
    assert calls_real.cer_real == 0.0
    metrics = calls_real.metrics("val", select_bias=0.9)
    assert metrics["val/cer"] == metrics["val/cer_bias1"] and metrics["val/runon_bias0"] == 1.0
    files = write_legibility(calls_real, tmp_path)
    assert Path(files["legibility_plot"]).stat().st_size > 1000
    with pytest.raises(SeqgenError, match="biases"):
        evaluate_legibility(write, read, texts, [-1.0])
