"""The demo page in a real headless Chromium (Debian's `chromium`, driven by Playwright for Python).

Nothing is downloaded: Playwright is pointed at /usr/bin/chromium (`make system-deps` installs it
with apt). The tests skip with the reason when the browser or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from handwriting_helpers import one_thread  # noqa: F401  (autouse fixture)
from serve_helpers import make_engine, serving, slow_down, tiny_synthesis_model, tiny_synthesis_run  # noqa: F401

from conftest import CHROMIUM, CHROMIUM_ARGS
from seqgen.data.handwriting.strokes import offsets_to_strokes
from seqgen.serve.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]
if sync_playwright is None:
    pytestmark.append(pytest.mark.skip(reason="playwright is not installed: pip install playwright (no `playwright install` needed)"))
elif not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
    pytestmark.append(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: `make system-deps` (apt-get install chromium)"))

# dark pixels (ink) in a canvas rectangle, read back through the 2D context
INK_JS = """([x, y, w, h]) => {
  const c = document.getElementById('sheet');
  const d = c.getContext('2d').getImageData(x, y, w, h).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 128 && d[i + 1] < 128 && d[i + 2] < 128) n++;
  return n;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def engine(tiny_synthesis_model: Any) -> Any:
    return make_engine(tiny_synthesis_model, max_concurrent=1, max_queue=2)


@pytest.fixture
def page(browser: Any, engine: Any) -> Iterator[Page]:
    with serving(create_app(engine)) as url:
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("body[data-state=idle]")
        yield page
        context.close()


def ink(page: Page, box: list[float]) -> int:
    return int(page.evaluate(INK_JS, [int(v) for v in box]))


def test_type_write_and_the_canvas_holds_ink_in_each_line_box(page: Page, tmp_path: Path) -> None:
    page.fill("#text", "ab ba\n\nabab")  # two paragraphs: two lines
    page.click("#write")
    page.wait_for_selector("body[data-state=done]")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 10_000
    boxes = page.evaluate("window.seqgenDemo.boxes")
    assert len(boxes) == 2 and page.evaluate("window.seqgenDemo.linesDone") == 2
    width, height = page.evaluate("[sheet.width, sheet.height]")
    for box in boxes:
        assert ink(page, [box["x"], box["y"], box["width"], box["height"]]) > 30
    # nothing outside the line boxes: the margins above, below and left of them stay white
    assert ink(page, [0, 0, width, boxes[0]["y"]]) == 0
    last = boxes[-1]["y"] + boxes[-1]["height"]
    assert ink(page, [0, last, width, height - last]) == 0
    assert ink(page, [0, 0, 10, height]) == 0
    # downloads and the alignment plot
    svg = page.request.get(page.evaluate("document.getElementById('svg').href"))
    assert svg.status == 200 and svg.text().count("<g ") == 2
    page.select_option("#align-line", "1")
    page.click("#align")
    page.wait_for_function("document.getElementById('align-img').complete && document.getElementById('align-img').naturalWidth > 100")


def test_upload_a_style_file_then_write_with_it(page: Page, tiny_synthesis_model: Any, tmp_path: Path) -> None:
    entry = tiny_synthesis_model.train_styles[0]
    raw = tiny_synthesis_model.norm.invert(np.asarray(entry["offsets"], dtype=np.float32))
    path = tmp_path / "my-style.json"
    path.write_text(json.dumps({"strokes": [s.tolist() for s in offsets_to_strokes(raw)]}))
    page.fill("#text", "ab")
    page.click("#own-style summary")
    page.fill("#style-text", entry["text"])
    page.set_input_files("#style-file", str(path))
    page.click("#upload")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Style ready')")
    assert page.input_value("#style").startswith("upload:")
    page.click("#write")
    page.wait_for_selector("body[data-state=done]")


def draw_arches(page: Page, count: int, height: float = 40) -> None:
    """Write `count` little arches in the capture box with the mouse (pointer events)."""
    box = page.locator("#pad").bounding_box()
    for n in range(count):
        x0 = 20 + 70 * n
        page.mouse.move(box["x"] + x0, box["y"] + 70)
        page.mouse.down()
        for k in range(1, 12):
            page.mouse.move(box["x"] + x0 + 4 * k, box["y"] + 70 - height * np.sin(k / 11 * np.pi))
        page.mouse.up()


def test_capture_lines_then_write_a_new_text_in_that_style(page: Page, tmp_path: Path) -> None:
    page.click("#own-style summary")
    assert page.text_content("#prompt") and page.input_value("#capture-text") == page.text_content("#prompt")
    # a bad capture is refused with its message on the page: nothing written, then far too short
    page.fill("#capture-text", "aaa")
    page.click("#capture-add")
    page.wait_for_function("document.getElementById('message').textContent.includes('empty')")
    draw_arches(page, 1)
    page.fill("#capture-text", "ab ab ab ab ab ab ab ab ab ab")
    page.click("#capture-add")
    page.wait_for_function("document.getElementById('message').textContent.includes('far too short')")
    # two good lines, then the style
    for count, text in enumerate(("aaa", "ba"), start=1):
        page.click("#pad-clear")
        draw_arches(page, len(text))
        page.fill("#capture-text", text)
        page.click("#capture-add")
        # wait on the count, not the message: the first line's "Line added" is still showing
        expected = f"{count} line{'s' if count > 1 else ''} captured"
        page.wait_for_function(f"document.getElementById('capture-count').textContent === {expected!r}")
        assert page.text_content("#message").startswith("Line added")
    assert page.text_content("#capture-count") == "2 lines captured"
    with page.expect_download() as saved:
        page.click("#capture-save")
    path = tmp_path / "mine.json"
    saved.value.save_as(str(path))
    assert [line["text"] for line in json.loads(path.read_text())["lines"]] == ["aaa", "ba"]
    page.click("#capture-use")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Style ready')")
    assert page.input_value("#style").startswith("capture:")
    # personalise, then write a new text in the style and find the ink
    page.click("#personalise")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Personalised')")
    page.fill("#text", "ab ba")
    page.click("#write")
    page.wait_for_selector("body[data-state=done]")
    box = page.evaluate("window.seqgenDemo.boxes")[0]
    assert ink(page, [box["x"], box["y"], box["width"], box["height"]]) > 30
    # the saved file loads back as a style
    page.set_input_files("#capture-load", str(path))
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Style ready')")


def test_bad_input_shows_its_message(page: Page, tmp_path: Path) -> None:
    # a character the model cannot write is marked as it is typed, before anything is sampled
    page.fill("#text", "ab\u00e9")
    assert page.text_content("#marked mark") == "\u00e9"
    page.click("#write")
    page.wait_for_selector("body[data-state=error]")
    assert "cannot write" in page.text_content("#message")
    assert page.get_attribute("#message", "class") == "error"
    # a width wider than the server allows: the API's 400 message is shown
    page.fill("#text", "ab " * 40)
    page.fill("#page-width", "100")
    page.click("#write")
    page.wait_for_function("document.getElementById('message').textContent.includes('at most')")
    assert page.get_attribute("body", "data-state") == "error"
    page.fill("#page-width", "40")
    # a malformed style file
    bad = tmp_path / "broken.svg"
    bad.write_text("<svg><polyline points='1,2 3'")
    page.click("#own-style summary")
    page.fill("#style-text", "ab")
    page.set_input_files("#style-file", str(bad))
    page.click("#upload")
    page.wait_for_function("document.getElementById('message').textContent.includes('malformed')")
    # the page still writes afterwards
    page.fill("#text", "ab")
    page.click("#write")
    page.wait_for_selector("body[data-state=done]")


def test_stop_mid_line_frees_the_server(page: Page, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_down(monkeypatch, engine, 0.02)
    page.fill("#text", "ab ab ab ab")
    page.click("#write")
    page.wait_for_function("window.seqgenDemo.state.lines.length && window.seqgenDemo.state.lines[0].points.length > 5")
    page.click("#stop")
    page.wait_for_selector("body[data-state=stopped]")
    deadline = time.monotonic() + 10
    while engine.status()["running"]:
        assert time.monotonic() < deadline, engine.status()
        time.sleep(0.05)
    assert engine.status()["cancelled"] == 1


def test_a_full_server_says_so_on_the_page(page: Page, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import threading

    import httpx

    monkeypatch.setattr(engine, "limits", dataclasses.replace(engine.limits, max_queue=0))
    slow_down(monkeypatch, engine, 0.02)
    leave = threading.Event()

    def occupy() -> None:  # another client holds the only slot until told to leave
        with httpx.stream("POST", page.url.rstrip("/") + "/api/write", json={"text": "ab ab ab ab"}, timeout=60) as res:
            for _ in res.iter_lines():
                if leave.is_set():
                    break

    other = threading.Thread(target=occupy)
    other.start()
    try:
        deadline = time.monotonic() + 30
        while engine.status()["running"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        page.fill("#text", "ab")
        page.click("#write")
        page.wait_for_selector("body[data-state=error]")
        assert "busy" in page.text_content("#message")
    finally:
        leave.set()
        other.join(timeout=60)
    assert engine.status()["refused"] == 1


PARAGRAPH = " ".join(["ab", "ba", "abab", "b", "aab", "baba"] * 20)  # 120 words


def test_a_120_word_paragraph_wraps_onto_a_page_with_its_downloads(page: Page, tmp_path: Path) -> None:
    """The page controls: width, alignment, page size, ink, width from speed; page SVG, PDF, G-code."""
    page.fill("#text", PARAGRAPH + "\n\nab ba")
    page.fill("#page-width", "30")
    page.select_option("#text-align", "justify")
    page.select_option("#page-size", "Letter")
    page.fill("#ink", "#aa0000")
    page.check("#speed-width")
    page.click("#write")
    page.wait_for_selector("body[data-state=done]", timeout=240_000)
    lines = page.evaluate("window.seqgenDemo.state.lines.map((l) => l.text)")
    assert len(lines) >= 15 and all(len(text) <= 30 for text in lines) and lines[-1] == "ab ba"
    assert " ".join(lines[:-1]).split() == PARAGRAPH.split()  # wrapped at word boundaries, nothing lost
    # the canvas is the Letter page, every line's box holds ink, red and nothing else
    width, height = page.evaluate("[sheet.width, sheet.height]")
    assert height / width == pytest.approx(279.4 / 215.9, abs=0.01)
    boxes = page.evaluate("window.seqgenDemo.boxes")
    assert len(boxes) == len(lines)
    red = """([x, y, w, h]) => { const d = sheet.getContext('2d').getImageData(x, y, w, h).data; let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 120 && d[i + 1] < 80 && d[i + 2] < 80) n++; return n; }"""
    for box in boxes:
        assert page.evaluate(red, [box["x"], box["y"], box["width"], box["height"]]) > 10
    assert ink(page, [0, 0, width, height]) == 0  # no black: the ink colour is used
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    downloads = {}
    for anchor in ("page-svg", "pdf", "gcode", "plotter-svg"):
        res = page.request.get(page.evaluate(f"document.getElementById('{anchor}').href"))
        assert res.status == 200, anchor
        downloads[anchor] = res.body()
    assert b'width="215.9mm"' in downloads["page-svg"] and b"#aa0000" in downloads["page-svg"]
    assert downloads["pdf"].startswith(b"%PDF")
    assert downloads["gcode"].count(b"M3 S90") > 20 and b"G21" in downloads["gcode"]
    assert downloads["plotter-svg"].count(b'inkscape:groupmode="layer"') == len(lines)
