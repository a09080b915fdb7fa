"""Captured lines (checks and styles), personalisation (a bounded, adapted copy) and best-of-N selection."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from handwriting_helpers import one_thread  # noqa: F401  (autouse fixture)
from serve_helpers import make_engine, serving, tiny_synthesis_model, tiny_synthesis_run  # noqa: F401

from seqgen.errors import SeqgenError
from seqgen.eval.legibility import choose_best
from seqgen.families.handwriting.best_of import check_best_of, line_log_likelihood, write_best_of
from seqgen.families.handwriting.capture import check_capture
from seqgen.families.handwriting.personalise import AdaptSettings, personalise
from seqgen.serve.app import create_app
from seqgen.serve.engine import RequestError


def arches(n: int, x0: float = 10, width: float = 40, height: float = 40, t0: float = 0.0) -> list[list[list[float]]]:
    """`n` pen-down arches side by side, as a pointer would report them ([x, y down, t ms])."""
    strokes, t = [], t0
    for k in range(n):
        stroke = []
        for i in range(12):
            stroke.append([x0 + k * width * 1.2 + width * i / 11, 80 - height * np.sin(np.pi * i / 11), t])
            t += 8.0
        strokes.append(stroke)
        t += 60.0
    return strokes


def test_a_good_capture_becomes_strokes_with_y_up() -> None:
    strokes = check_capture(arches(4), "abab")
    assert len(strokes) == 4 and strokes[0].shape == (12, 2)
    assert np.argmax(strokes[0][:, 1]) in (5, 6)  # y flipped: the arch's top is the largest y


@pytest.mark.parametrize(
    "strokes, text, message",
    [
        ([], "abab", "empty"),
        ([[[5, 5, 0], [5, 5, 1]]], "abab", "empty"),
        (arches(4), "", "no text"),
        (arches(1), "a long sentence with many words", "too short"),
        (arches(30, height=5), "ab", "too long"),
        ([s[::-1] for s in arches(4)], "abab", "out of order"),
        (arches(2) + arches(2, x0=200, t0=-500), "abab", "out of order"),
        ([[[1, 2]]], "ab", "[x, y, t]"),
        ([[[1, float("nan"), 0]] * 9], "ab", "finite"),
    ],
)
def test_bad_captures_are_refused_with_what_is_wrong(strokes: Any, text: str, message: str) -> None:
    with pytest.raises(SeqgenError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_capture(strokes, text)


def test_engine_turns_captured_lines_into_a_style_and_names_a_bad_line(tiny_synthesis_model: Any) -> None:
    engine = make_engine(tiny_synthesis_model)
    result = engine.add_capture([{"text": "abab", "strokes": arches(4)}, {"text": "ba", "strokes": arches(2)}])
    assert result["id"].startswith("capture:") and result["lines"] == 2 and result["text"] == "abab"
    style = engine.style_for(result["id"])
    assert len(style.lines) == 2 and style.lines[1][1] == "ba"
    with pytest.raises(RequestError, match="line 2 is far too short") as caught:
        engine.add_capture([{"text": "abab", "strokes": arches(4)}, {"text": "abab abab abab abab", "strokes": arches(1)}])
    assert caught.value.status == 400 and caught.value.details["line"] == 1
    with pytest.raises(RequestError, match="at most"):
        engine.add_capture([{"text": "ab", "strokes": arches(2)}] * (engine.limits.max_capture_lines + 1))


def test_personalisation_adapts_a_copy_within_its_bounds(tiny_synthesis_model: Any, tiny_synthesis_run: Path) -> None:
    model = tiny_synthesis_model
    ckpt = tiny_synthesis_run / "checkpoints" / "last.ckpt"
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    entry = model.train_styles[0]
    lines = [np.asarray(entry["offsets"], dtype=np.float32)]
    adapted = personalise(model, lines, [entry["text"]], AdaptSettings(steps=6, seconds=60, lr=3e-3))
    assert adapted.steps == 6 and adapted.nll_after < adapted.nll_before
    changed = [k for k, v in adapted.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the adapted copy has new weights"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the loaded model never changes"
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == digest
    # the CPU-time bound ends it even when steps remain; a stop request ends it at once
    short = personalise(model, lines, [entry["text"]], AdaptSettings(steps=1000, seconds=1e-6))
    assert short.steps <= 1
    assert personalise(model, lines, [entry["text"]], AdaptSettings(steps=5), stop=lambda: True).steps == 0
    with pytest.raises(SeqgenError, match="adapt_seconds"):
        AdaptSettings(seconds=0)
    # the dynamic-evaluation rule of the text family plugs in as the update rule
    from seqgen.eval.dynamic import DynamicAdapter, DynamicSettings

    sgd = personalise(model, lines, [entry["text"]], AdaptSettings(steps=4, seconds=60),
                      update=lambda net: DynamicAdapter(net, DynamicSettings(method="sgd", lr=0.05, decay=0.01)))
    assert sgd.steps == 4 and sgd.nll_after < sgd.nll_before
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_choose_best_takes_the_fewest_edits_then_the_higher_likelihood() -> None:
    texts = ["abc", "xy"]
    reads = ["abd", "abc", "abc", "xy", "xz", "xy"]
    scores = [0.0, -5.0, -1.0, -3.0, 9.0, -2.0]
    assert choose_best(texts, reads, scores, 3) == [2, 5]
    with pytest.raises(SeqgenError):
        choose_best(texts, reads[:5], scores[:5], 3)


def test_best_of_keeps_the_candidate_the_reader_reads_best(tiny_synthesis_model: Any) -> None:
    model = tiny_synthesis_model
    lengths: list[int] = []

    def reader(lines: list[np.ndarray]) -> list[str]:  # reads a longer line as the text: the longest wins
        lengths[:] = [len(line) for line in lines]
        longest = max(lengths)
        return ["ab" if len(line) == longest else "zz" for line in lines]

    samples = write_best_of(model, ["ab"], 4, reader, bias=0.5, max_points=40, seed=3)
    assert len(lengths) == 4 and len(samples.offsets) == 1
    assert len(samples.offsets[0]) == max(lengths) and samples.reads == ["ab"]
    assert len(samples.log_likelihood) == 1 and np.isfinite(samples.log_likelihood[0])
    ll = line_log_likelihood(model, samples.offsets, samples.texts)
    assert ll == pytest.approx(samples.log_likelihood, rel=1e-5)
    with pytest.raises(SeqgenError, match="recognizer"):
        check_best_of(4, None)
    with pytest.raises(SeqgenError, match="whole number"):
        check_best_of(0, reader)


def test_server_captures_personalises_without_blocking_and_writes_best_of(tiny_synthesis_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(tiny_synthesis_model, adapt_steps=3)
    engine.reader = lambda lines: ["ab"] * len(lines)
    import seqgen.families.handwriting.personalise as personalise_module

    real, entered, release = personalise_module.personalise, threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(personalise_module, "personalise", slow)
    with serving(create_app(engine)) as url, httpx.Client(base_url=url, timeout=60) as client:
        bad = client.post("/api/capture", json={"lines": [{"text": "abab", "strokes": []}]})
        assert bad.status_code == 400 and "empty" in bad.json()["error"]
        style = client.post("/api/capture", json={"lines": [{"text": "abab", "strokes": arches(4)}]}).json()["id"]
        result: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: result.update(client.post("/api/personalise", json={"style": style}).json()))
        worker.start()
        assert entered.wait(30)
        start = time.monotonic()
        assert client.get("/api/status").status_code == 200  # other clients are served meanwhile
        assert time.monotonic() - start < 10
        release.set()
        worker.join(60)
        assert result["steps"] == 3 and result["id"] == style
        assert engine.style_for(style).model is not None
        events = client.post("/api/write", json={"text": "ab", "style": style, "best_of": 2, "bias": 1.0}).text
        assert "event: done" in events and "event: points" in events
        refused = client.post("/api/personalise", json={"style": "none"})
        assert refused.status_code == 400
    engine.reader = None
    with pytest.raises(RequestError, match="recogniser"):
        from seqgen.serve.engine import WriteRequest

        engine.check_request(WriteRequest(["ab"], 0.0, 0, "none", best_of=2))
