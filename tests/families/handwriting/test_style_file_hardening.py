"""Style files with NaN or infinite coordinates, or nested absurdly deep, are refused where styles
are read, for every entry point: `load_prime` (seqgen-sample style=<file>), the demo's upload;
sampling options that do not apply to a handwriting model are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import iam_stroke_xml
from omegaconf import OmegaConf
from serve_helpers import make_engine, tiny_synthesis_model, tiny_synthesis_run  # noqa: F401  (fixtures)

from seqgen.data.handwriting.user_styles import load_prime
from seqgen.errors import SeqgenError


def _hostile_files(folder: Path) -> dict[str, Path]:
    files = {
        "nan.xml": iam_stroke_xml([[(0, 0), (10, 5), (20, 0)]]).replace('x="10"', 'x="nan"'),
        "inf.xml": iam_stroke_xml([[(0, 0), (10, 5), (20, 0)]]).replace('x="10"', 'x="inf"'),
        "huge.svg": '<svg xmlns="http://www.w3.org/2000/svg"><polyline points="0,0 1e999,5 20,0"/><title>hi</title></svg>',
        "overflow.json": '{"text": "hi", "strokes": [[[0, 0], [3e38, 0], [-3e38, 0]]]}',  # differences beyond float32
        "deep.json": "[" * 100_000 + "]" * 100_000,
    }
    out = {}
    for name, content in files.items():
        (folder / name).write_text(content)
        out[name] = folder / name
    return out


def test_load_prime_refuses_non_finite_and_deeply_nested_styles(tmp_path: Path) -> None:
    for name, path in _hostile_files(tmp_path).items():
        with pytest.raises(SeqgenError) as err:
            load_prime(path)
        message = str(err.value)
        assert str(path) in message and "\n" not in message, name
        assert ("finite" in message) or ("nested too deeply" in message), (name, message)


def test_sampling_refuses_hostile_styles_and_options_that_do_not_apply(tiny_synthesis_model, tmp_path: Path) -> None:  # noqa: F811
    from seqgen.cli.sample import PLATFORM_OPTIONS
    from seqgen.core.family import family_of

    model = tiny_synthesis_model
    family = family_of(model)
    base = {"ckpt": "x", "seed": 0, "num_samples": 1, "device": "cpu", "max_memory_gb": 4, "text": "ab", "bias": None, "style": None,
            "style_text": None, "styles_dir": None, "max_points": 20, "unknown_chars": None}

    def sample(**options):  # type: ignore[no-untyped-def]
        cfg = OmegaConf.create({**base, **options})
        family.check_sample_options(cfg, frozenset(cfg.keys()) - PLATFORM_OPTIONS, model)
        return family.generate(model, cfg, tmp_path / "out")

    for path in _hostile_files(tmp_path).values():
        with pytest.raises(SeqgenError, match="finite|nested too deeply"):
            sample(style=str(path), style_text="ab")
    with pytest.raises(SeqgenError, match="text is empty"):
        sample(text="")
    from seqgen.families.handwriting.module import HandwritingPrediction

    prediction = HandwritingPrediction.__new__(HandwritingPrediction)  # its class is what decides (kinds.kind_of)
    with pytest.raises(SeqgenError, match="text do\\(es\\) not apply to a handwriting prediction model"):
        family.check_sample_options(OmegaConf.create({"text": "ab"}), frozenset({"text"}), prediction)


def test_the_demo_upload_refuses_hostile_styles(tiny_synthesis_model, tmp_path: Path) -> None:  # noqa: F811
    from seqgen.serve.engine import RequestError

    engine = make_engine(tiny_synthesis_model)
    for name, path in _hostile_files(tmp_path).items():
        with pytest.raises(RequestError) as err:
            engine.add_upload(name, path.read_bytes(), "ab")
        assert err.value.status in (400, 413), (name, err.value.status)
        assert str(path) not in str(err.value)  # the user's file name, not the server's temp path
