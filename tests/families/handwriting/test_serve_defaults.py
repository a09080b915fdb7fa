"""`seqgen-serve` with its shipped defaults (conf/serve.yaml: `styles_dir: auto`), as `make demo` starts it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from handwriting_helpers import one_thread  # noqa: F401  (autouse fixture)
from serve_helpers import tiny_synthesis_run  # noqa: F401

from conftest import REPO, SHARED, compose_cfg
from omegaconf import OmegaConf


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


def test_seqgen_serve_starts_and_answers_with_its_shipped_config(tiny_synthesis_run: Path, tmp_path: Path) -> None:
    """The real command in a fresh process, nothing on its command line but the checkpoint and a free
    port: `num_threads: auto` and `styles_dir: auto` are resolved as shipped."""
    shipped = OmegaConf.load(REPO / "conf" / "serve.yaml")
    assert shipped.num_threads == "auto" and shipped.styles_dir == "auto"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    server = subprocess.Popen([str(Path(sys.executable).parent / "seqgen-serve"), f"ckpt={tiny_synthesis_run}", "port=0"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, seen = None, []
        deadline = time.monotonic() + 300
        while url is None and time.monotonic() < deadline and server.stdout is not None:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                break
            seen.append(line)
            match = re.search(r"Uvicorn running on (http://\S+)", line)
            url = match.group(1) if match else None
        assert url, "seqgen-serve did not start:\n" + "".join(seen)[-3000:]
        assert any(re.search(r"threads: \d+ \(", line) for line in seen), "auto resolved no thread count"
        with urllib.request.urlopen(url + "/", timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=60)
