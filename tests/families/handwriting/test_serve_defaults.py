"""`seqgen-serve` with its shipped defaults (conf/serve.yaml: `styles_dir: auto`), as `make demo` starts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from handwriting_helpers import one_thread  # noqa: F401  (autouse fixture)
from serve_helpers import tiny_synthesis_run  # noqa: F401

from conftest import SHARED, compose_cfg


def test_the_shipped_styles_dir_auto_builds_the_engine(tiny_synthesis_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqgen.cli.serve import build_engine, styles_folder, validate
    from seqgen.core.family import get_family

    empty = tmp_path / "no-styles"
    empty.mkdir()
    monkeypatch.setenv("SEQGEN_STYLES", str(empty))  # paths.styles_dir holds no styles: auto means none
    cfg = compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}"])
    assert cfg.styles_dir == "auto"
    validate(cfg)
    assert styles_folder(cfg.styles_dir, get_family("handwriting"), cfg) is None
    engine = build_engine(cfg)
    assert not [s["id"] for s in engine.style_list() if s["id"].startswith("real:")]

    real = SHARED / "real-samples" / "iam-ondb" / "styles"
    if not any(real.glob("style-*-strokes.npy")):
        pytest.skip(f"no real IAM-OnDB styles in {real}")
    monkeypatch.setenv("SEQGEN_STYLES", str(real))  # auto: the configured folder's real styles are offered
    cfg = compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}"])
    assert styles_folder(cfg.styles_dir, get_family("handwriting"), cfg) == real
    assert build_engine(cfg).style_list()[0]["id"] == "none"
