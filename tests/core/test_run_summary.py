"""The last lines of `seqgen-train`: the headline metric beside its baseline, and next commands that work as printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compose_command, tiny_train_cfg


def next_commands(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines[lines.index("[seqgen] next:") + 1:]]


def test_versus_says_better_or_worse() -> None:
    from seqgen.core.family import versus

    assert versus(1.9, 2.0) == "5.0% better"
    assert versus(2.1, 2.0) == "5.0% worse: the model does not beat it"


def test_text_run_summary_puts_the_model_beside_ppmd(tmp_path: Path, tiny_text_data: Path, tiny_text_file: Path) -> None:
    import torch

    from seqgen.core.family import get_family
    from seqgen.training.run import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the quick starts run (num_threads: 1)
    try:
        runs = [train(tiny_train_cfg(tmp_path / name, tiny_text_data, tiny_text_file, ["trainer.max_steps=4"]),
                      tmp_path / name / "run") for name in ("a", "b")]
    finally:
        torch.set_num_threads(threads)
    # a step budget: the same figures on every run, whatever the machine's load
    assert runs[0]["metrics"]["test/bpc"] == runs[1]["metrics"]["test/bpc"]
    result = runs[0]
    assert (result["family"], result["model_class"]) == ("text", "TextLSTM")
    lines = get_family("text").summary(str(tmp_path / "a" / "run"), result)
    bpc, table = result["metrics"]["test/bpc"], result["compression"]
    ppmd = table["compressors"]["ppmd"]
    assert lines[0].startswith(f"[seqgen] test: {bpc:.3f} bits per character; PPMd var.H order 6 {ppmd:.3f} on the same {table['test_bytes']:,} test bytes (")
    assert ("better" in lines[0]) == (bpc <= ppmd)
    commands = next_commands(lines)
    assert [c.split()[0].rpartition("/")[2] for c in commands] == ["seqgen-sample", "seqgen-eval"]
    for command in commands:  # each composes and validates as typed, on this run
        cfg = compose_command(command, tmp_path)
        assert cfg is not None and Path(cfg.ckpt) == tmp_path / "a" / "run"


@pytest.mark.parametrize(
    "family, result, headline",
    [
        ("handwriting", {"model_class": "HandwritingSynthesis", "metrics": {"val/cer": 0.156, "val/cer_real": 0.02}},
         "legibility (val texts): the recogniser reads the written lines with CER 15.6%; on the real lines of the same texts 2.0%"),
        ("recognizer", {"metrics": {"test/cer": 0.022}}, "test: CER 2.2% (best path) on real lines; reading nothing scores 100%"),
        ("atari", {"test/mse@1": 0.004, "test/baseline_mse@1": 0.005}, "test rollouts, k=1: MSE 0.004 vs copy-last-frame 0.005 (20.0% better)"),
        ("image", {"metrics": {"test/bits_per_dim": 2.2}, "test/baseline_bits_per_dim": 2.0},
         "test: 2.200 bits/dim; independent pixels (each position's training histogram) 2.000 (10.0% worse: the model does not beat it)"),
        ("image", {"metrics": {"test/accuracy": 0.9}, "test/baseline_accuracy": 0.1},
         "test: accuracy 90.0%; always the most frequent training class 10.0% (+80.0 points)"),
    ],
)
def test_each_family_headline_names_its_baseline(family: str, result: dict, headline: str) -> None:
    from seqgen.core.family import get_family

    lines = get_family(family).summary("outputs/run", result)
    assert lines[0].startswith(f"[seqgen] {headline}")
    commands = next_commands(lines)
    assert commands and all(" ckpt=outputs/run" in c for c in commands)
