"""The measured likeness end to end on the tiny corpus: a writer classifier (the writer_id family,
a few steps), then `seqgen-eval ... style=true` beside legibility with best-of-N; and the style
scores' arithmetic on known embeddings."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from handwriting_helpers import TINY_DATA, TINY_TRAIN, one_thread  # noqa: F401  (autouse fixture)
from omegaconf import OmegaConf, open_dict
from serve_helpers import tiny_synthesis_run  # noqa: F401

from conftest import BIN, compose_cfg, read_json
from seqgen.core.checkpoints import load_model
from seqgen.families.handwriting.style import _scores
from seqgen.training.run import train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


def _train_on(data_root: Path, tmp: Path, model: list[str]) -> Path:
    cfg = compose_cfg("train", tmp, [*TINY_DATA, *TINY_TRAIN, *model, "trainer.max_steps=3", "test=false"])
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_root)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    train(cfg, Path(cfg.paths.output_dir))
    return Path(cfg.paths.output_dir)


@pytest.mark.slow  # two tiny trainings and four CLI runs: about a minute on an idle core
def test_writer_classifier_and_style_measures_in_metrics_json(tiny_synthesis_run: Path, tmp_path: Path) -> None:
    data_root = Path(OmegaConf.load(tiny_synthesis_run / "config_resolved.yaml").paths.data_dir)
    writer_run = _train_on(data_root, tmp_path / "wid", ["model=writer_id", "model.hidden_size=8", "model.embedding_size=8"])
    rec_run = _train_on(data_root, tmp_path / "rec", ["model=recognizer", "model.hidden_size=8", "model.num_layers=1", "model.subsample=2"])
    classifier = load_model(writer_run, family="writer_id")
    synthesis = load_model(tiny_synthesis_run, family="handwriting")
    assert set(s["writer"] for s in synthesis.train_styles) <= set(classifier.writers)
    probs, emb = classifier.classify([np.asarray(synthesis.norm.invert(np.asarray(s["offsets"], np.float32))) for s in synthesis.train_styles])
    assert probs.shape == (len(synthesis.train_styles), len(classifier.writers)) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert emb.shape == (len(synthesis.train_styles), 8)

    out = tmp_path / "eval"
    done = subprocess.run(
        [str(BIN / "seqgen-eval"), f"ckpt={tiny_synthesis_run}", "style=true", f"writer_id={writer_run}", "style_writers=2",
         "style_lines=2", "adapt_steps=2", f"recognizer={rec_run}", "legibility_lines=2", "biases=[1]", "best_of=[1,2]",
         f"hydra.run.dir={out}"],
        capture_output=True, text=True, timeout=600, env=ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_json(out / "metrics.json")["metrics"]
    for condition in ("none", "primed", "personalised"):
        assert 0.0 <= metrics[f"style/accuracy_{condition}"] <= 1.0
        assert metrics[f"style/distance_ratio_{condition}"] > 0
    assert metrics["style/chance"] == 0.5 and metrics["style/lines_per_condition"] == 4
    assert "test/cer_bias1" in metrics and "test/cer_bias1_best2" in metrics and metrics["test/seconds_per_line_bias1_best2"] > 0
    assert "| primed |" in (out / "style.md").read_text()
    assert "best_of" in (out / "legibility.md").read_text()
    steps = [a["steps"] for a in read_json(out / "style.json")["adaptation"]]
    assert steps == [2, 2]

    # best-of-N in seqgen-sample: the recogniser's readings and the cost per line are printed
    sampled = subprocess.run([str(BIN / "seqgen-sample"), f"ckpt={tiny_synthesis_run}", "text=ab|ba", "num_samples=1", "best_of=2", f"recognizer={rec_run}",
                              "max_points=60", f"hydra.run.dir={tmp_path / 'sample'}"], capture_output=True, text=True, timeout=600, env=ENV)
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert sampled.stdout.count("read as") == 2 and "best of 2" in sampled.stdout and "s per line" in sampled.stdout
    no_reader = subprocess.run([str(BIN / "seqgen-sample"), f"ckpt={tiny_synthesis_run}", "text=ab", "best_of=2", f"hydra.run.dir={tmp_path / 's2'}"],
                               capture_output=True, text=True, timeout=600, env=ENV)
    assert no_reader.returncode == 2 and "recognizer=" in no_reader.stderr

    # a writer classifier is required, and refused for a family that writes no handwriting
    refused = subprocess.run([str(BIN / "seqgen-eval"), f"ckpt={tiny_synthesis_run}", "style=true", f"hydra.run.dir={tmp_path / 'no'}"],
                             capture_output=True, text=True, timeout=600, env=ENV)
    assert refused.returncode == 2 and "writer_id=" in refused.stderr


def test_style_scores_on_known_embeddings() -> None:
    # two writers; generated lines sit on their own writer's reference lines
    ref_emb = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    ref_owner = np.array([0, 0, 1, 1])
    emb = np.array([[1.0, 0.05], [0.05, 1.0]])
    owner = np.array([0, 1])
    probs = np.array([[0.1, 0.7, 0.2], [0.1, 0.2, 0.7]])  # three training writers, K = 2 of them: classes 1 and 2
    scores = _scores(probs, emb, owner, [1, 2], ref_emb, ref_owner)
    assert scores["accuracy"] == 1.0 and scores["accuracy_all_writers"] == 1.0
    assert scores["distance_own"] < scores["distance_other"] and scores["distance_ratio"] < 0.2
    swapped = _scores(probs, emb, owner[::-1].copy(), [1, 2], ref_emb, ref_owner)
    assert swapped["accuracy"] == 0.0 and swapped["distance_ratio"] > 5
