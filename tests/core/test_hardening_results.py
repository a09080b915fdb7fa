"""Wrong or silent results: encodings read as written, characters named as characters, hints that
work when followed, runs that would train nothing, corpora too small, options that do not apply,
advice that names the command's own options."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import compose_cfg, iam_stroke_xml
from seqgen.errors import SeqgenError, find_user_error
from seqgen.validate import validate_config


def _iam_tree(root: Path, texts: dict[str, bytes]) -> Path:
    for form, text in texts.items():
        (root / "lineStrokes" / "a01" / form).mkdir(parents=True)
        (root / "ascii" / "a01" / form).mkdir(parents=True)
        (root / "ascii" / "a01" / form / f"{form}.txt").write_bytes(b"CSR:\n\n" + text + b"\n")
        stroke = [(100 + 15 * i, 1000 + 40 * np.sin(i / 2)) for i in range(15)]
        (root / "lineStrokes" / "a01" / form / f"{form}-01.xml").write_text(iam_stroke_xml([stroke, [(x + 300, y) for x, y in stroke]]))
    return root


def test_iam_transcriptions_in_utf8_and_latin1_are_read_as_written(tmp_path: Path) -> None:
    from seqgen.families.handwriting.iam import SkipReport, iter_iam_lines

    written = {"a01-000u": "café déjà vu 東京 😀", "a01-001u": "naïve Zürich"}
    root = _iam_tree(tmp_path / "iam", {"a01-000u": written["a01-000u"].encode("utf-8"), "a01-001u": written["a01-001u"].encode("latin-1")})
    got = {line.line_id[:8]: line.text for line in iter_iam_lines(root, None, max_step=300.0, report=SkipReport())}
    assert got == written  # no mojibake ('Ã©', '\x80', '§') in the vocabulary


def test_the_missing_split_list_hint_works_when_followed(tmp_path: Path) -> None:
    from seqgen.families.handwriting.iam import read_split_ids
    from seqgen.families.handwriting.prepare import IamOnDbCorpus, prepare_handwriting

    root = _iam_tree(tmp_path / "iam", {f"a01-{i:03d}u": b"the quick brown fox" for i in range(10)})
    with pytest.raises(SeqgenError) as err:
        read_split_ids(root, "train")
    hint = re.search(r"pass (data\.corpus\.split=(\w+))", str(err.value))
    assert hint, str(err.value)
    validate_config(compose_cfg("prepare", tmp_path, ["data=iam_ondb", f"data.corpus.root={root}", hint.group(1)]), "prepare")
    corpus = IamOnDbCorpus(str(root), split=hint.group(2), fractions=[0.6, 0.2, 0.2])  # what the hint's override builds
    summary = prepare_handwriting(corpus, str(tmp_path / "out"), samples_per_shard=2, min_train_shards=1, min_points=5)
    assert summary["splits"]["train"]["lines"] > 0


def test_characters_outside_the_vocabulary_are_named_as_characters() -> None:
    from seqgen.data.text.vocab import Vocabulary

    vocab = Vocabulary.from_data(b"plain ascii text", "byte")
    with pytest.raises(SeqgenError) as err:
        vocab.encode("plain 😀 and é")
    assert "'😀'" in str(err.value) and "'é'" in str(err.value) and "byte" not in str(err.value)


def test_a_run_that_would_train_nothing_is_refused(tmp_path: Path) -> None:
    for key in ("trainer.max_steps=0", "trainer.max_epochs=0"):
        with pytest.raises(SeqgenError, match=r"-1 \(no limit\) or an integer >= 1"):
            validate_config(compose_cfg("train", tmp_path, [key]), "train")


def test_a_tiny_text_is_refused_at_prepare_with_the_minimum(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    (tmp_path / "one_line.txt").write_text("é" * 1000 + "\n")  # 2 KB, but 1001 characters
    cfg = compose_cfg("prepare", tmp_path, ["data=text_file", f"data.corpus.path={tmp_path / 'one_line.txt'}"])
    summary = instantiate(cfg.data.prepare)  # big enough: every split gets shards
    assert all(split["shards"] >= 1 for split in summary["splits"].values()), summary
    (tmp_path / "tiny.txt").write_text("é" * 90 + "\n")
    cfg = compose_cfg("prepare", tmp_path, ["data=text_file", f"data.corpus.path={tmp_path / 'tiny.txt'}"])
    with pytest.raises(Exception) as err:  # Hydra's instantiate wraps it; the CLI prints the SeqgenError
        instantiate(cfg.data.prepare)
    assert re.search(r"'train' split has \d+ symbols, at least 101 are needed", str(find_user_error(err.value)))
    assert not (Path(cfg.data.dir) / "manifest.json").exists()


def test_options_that_do_not_apply_are_refused(tmp_path: Path) -> None:
    from seqgen.core.family import get_family
    from seqgen.families.speech.generate import sample_command

    for command, overrides, needle in (
        ("sample", ["ckpt=x", "style=-1"], "style=-1 is out of range"),
        ("sample", ["ckpt=x", "max_frames=0"], "max_frames=0 is out of range"),
        ("eval", ["ckpt=x", "legibility_lines=0"], "legibility_lines=0 is out of range"),
        ("train", ["experiment=atari_quickstart", "model.factors=0"], "model.factors=0 is out of range"),
    ):
        with pytest.raises(SeqgenError, match=re.escape(needle)):
            validate_config(compose_cfg(command, tmp_path, overrides), command)
    speech = get_family("speech")
    for options, needle in (({"text": "hi", "phonemes": "h ay"}, "text and phonemes were both given"), ({"phonemes": " "}, "phonemes is empty")):
        cfg = OmegaConf.create(options)
        with pytest.raises(SeqgenError, match=needle):
            speech.check_sample_options(cfg, frozenset(cfg.keys()))
    model = SimpleNamespace(primes=[], table=SimpleNamespace(speakers=["alice", "bob"], units="chars"))
    with pytest.raises(SeqgenError, match="speaker=carol is not a training speaker of this model; its speakers are: alice, bob"):
        sample_command(model, OmegaConf.create({"speaker": "carol", "style": None}), tmp_path)


def test_advice_names_options_the_command_has(tmp_path: Path) -> None:
    from seqgen.data.identity import check_data_identity

    saved = {"vocab": {"kind": "char", "symbols": [97]}, "corpus": "a"}
    info = {"vocab": {"kind": "char", "symbols": [98]}, "corpus": "b"}
    with pytest.raises(SeqgenError, match=r"pass data_dir=<its prepared folder>"):
        check_data_identity(saved, info, tmp_path, "seqgen-eval", "data_dir")
    with pytest.raises(SeqgenError, match=r"pass data\.datamodule\.data_dir=<its prepared folder>"):
        check_data_identity(saved, info, tmp_path, "resume", "data.datamodule.data_dir")
    from seqgen.families.text.datamodule import TextDataModule

    (tmp_path / "meta.json").write_text('{"family": "image"}')
    with pytest.raises(SeqgenError) as err:
        TextDataModule(str(tmp_path)).load_info()
    assert "data=" not in str(err.value) and "'image' data" in str(err.value)


def test_a_failed_sweep_trial_is_one_line_with_its_reason(tmp_path: Path) -> None:
    from seqgen.sweep.runner import _reason

    error = tmp_path / "error.txt"
    error.write_text("Failure # 1\nTraceback (most recent call last):\n  File x\nseqgen.errors.SeqgenError: the sweep metric 'val/x' was not logged\n")
    assert _reason(SimpleNamespace(error_file=str(error))) == ": the sweep metric 'val/x' was not logged"
    assert _reason(SimpleNamespace(error_file=None)) == ""
    import os

    from seqgen.sweep.runner import quiet_ray_environment

    quiet_ray_environment(0)
    assert os.environ["TUNE_PRINT_ALL_TRIAL_ERRORS"] == "0"  # Ray's per-attempt traceback walls are off
