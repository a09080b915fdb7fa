"""The demo's JSON API and event stream: writing, downloads, styles, bad input, concurrency, disconnects.

In-process tests use Starlette's TestClient; concurrency and disconnects use a real uvicorn on a
free 127.0.0.1 port with httpx clients (bounded in number and time).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from handwriting_helpers import one_thread  # noqa: F401  (autouse fixture)
from serve_helpers import make_engine, serving, slow_down, tiny_synthesis_model, tiny_synthesis_run  # noqa: F401
from starlette.testclient import TestClient

from conftest import REPO
from seqgen.data.handwriting.strokes import offsets_to_strokes
from seqgen.serve.app import create_app


def events(lines: Any) -> list[tuple[str, Any]]:
    """Parse a text/event-stream body into (event, data) pairs (comments skipped)."""
    out, event = [], "message"
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event, json.loads(line[6:])))
    return out


def write(client: Any, **body: Any) -> tuple[int, Any]:
    with client.stream("POST", "/api/write", json=body) as res:
        if res.status_code != 200:
            res.read()
            return res.status_code, res.json()
        return 200, events(res.iter_lines())


@pytest.fixture
def client(tiny_synthesis_model: Any) -> TestClient:
    return TestClient(create_app(make_engine(tiny_synthesis_model)))


def test_page_and_info(client: TestClient, tiny_synthesis_model: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="sheet"' in page.text and "/static/app.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # offline: nothing from a CDN
    assert client.get("/static/app.js").status_code == 200
    info = client.get("/api/info").json()
    assert info["vocab"] == tiny_synthesis_model.vocab
    ids = [s["id"] for s in info["styles"]]
    assert ids[0] == "none" and ids[1:] == [f"writer:{n}" for n in range(len(tiny_synthesis_model.train_styles))]
    assert info["limits"]["max_chars"] <= tiny_synthesis_model.hparams.max_text_chars


def test_write_streams_every_point_line_after_line_and_downloads(client: TestClient) -> None:
    status, evs = write(client, text="ab\n\nba a", bias=0.5, seed=3)
    assert status == 200
    names = [e for e, _ in evs]
    assert names[0] == "job" and names[-1] == "done" and "error" not in names
    job = evs[0][1]
    assert job["lines"] == ["ab", "ba a"]  # blank rows dropped
    # line 0 entirely before line 1; the streamed points are the line's points, in order
    starts = [i for i, (e, _) in enumerate(evs) if e == "line"]
    ends = [i for i, (e, _) in enumerate(evs) if e == "line_end"]
    assert len(starts) == len(ends) == 2 and starts[0] < ends[0] < starts[1] < ends[1]
    for row in range(2):
        streamed = [p for e, d in evs if e == "points" and d["line"] == row for p in d["points"]]
        end = next(d for e, d in evs if e == "line_end" and d["line"] == row)
        assert len(streamed) == end["points"] > 0
        assert all(len(p) == 3 and p[2] in (0.0, 1.0) for p in streamed)
    svg = client.get(f"/api/jobs/{job['id']}.svg?stroke_width=3")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert 'stroke-width="3"' in svg.text and svg.text.count("<g ") == 2
    png = client.get(f"/api/jobs/{job['id']}.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    plot = client.get(f"/api/jobs/{job['id']}/alignment/1.png")
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"
    assert client.get(f"/api/jobs/{job['id']}/alignment/7.png").status_code == 404
    assert client.get("/api/status").json()["completed"] == 1


def test_svg_has_one_polyline_per_pen_stroke(client: TestClient, tiny_synthesis_model: Any) -> None:
    status, evs = write(client, text="ab", seed=5)
    assert status == 200
    points = np.array([p for e, d in evs if e == "points" for p in d["points"]], dtype=np.float32)
    offsets = np.concatenate([[[0, 0, 1]], points]).astype(np.float32)
    offsets[-1, 2] = 1.0
    svg = client.get(f"/api/jobs/{evs[0][1]['id']}.svg").text
    assert svg.count("<polyline") == len(offsets_to_strokes(offsets))


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"text": "a" * 200}, 400, "at most"),
        ({"text": "ab\n" * 50}, 400, "too many"),
        ({"text": "   \n "}, 400, "nothing to write"),
        ({"text": 5}, 400, "must be a string"),
        ({"text": "ab", "bias": "high"}, 400, "bias"),
        ({"text": "ab", "bias": 99}, 400, "bias"),
        ({"text": "ab", "seed": -1}, 400, "seed"),
        ({"text": "ab", "seed": 1.5}, 400, "seed"),
        ({"text": "ab", "style": "../../etc/passwd"}, 400, "unknown style"),
        ({"text": "ab", "style": "real:0"}, 400, "unknown style"),  # no real styles configured
        ({"text": "ab", "unknown_chars": "keep"}, 400, "unknown_chars"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_requests_are_4xx_json_and_the_server_stays_up(client: TestClient, body: Any, status: int, needle: str) -> None:
    res = client.post("/api/write", json=body)
    assert res.status_code == status
    assert needle in res.json()["error"]
    assert write(client, text="ab")[0] == 200


def test_unknown_characters_are_named_with_their_place(client: TestClient) -> None:
    res = client.post("/api/write", json={"text": "ab\na\u00e9b\u00a7"})
    assert res.status_code == 400
    body = res.json()
    assert body["unknown"] == [{"line": 1, "col": 1, "char": "\u00e9"}, {"line": 1, "col": 3, "char": "\u00a7"}]
    assert "\u00e9" in body["error"]
    assert client.post("/api/check", json={"text": "x\n\u00e9"}).json()["unknown"] == [{"line": 1, "col": 0, "char": "\u00e9"}]
    status, evs = write(client, text="a\u00e9b", unknown_chars="drop")
    assert status == 200 and evs[0][1]["lines"] == ["ab"]


def test_malformed_and_huge_bodies(client: TestClient) -> None:
    res = client.post("/api/write", content=b"{not json", headers={"content-type": "application/json"})
    assert res.status_code == 400 and "JSON" in res.json()["error"]
    res = client.post("/api/write", content=b"x" * 70_000, headers={"content-type": "application/json"})
    assert res.status_code == 413 and "bytes" in res.json()["error"]
    assert client.get("/api/jobs/nope.svg").status_code == 404
    assert client.get("/no/such/page").json()["error"]


def _style_json(model: Any) -> str:
    entry = model.train_styles[0]
    raw = model.norm.invert(np.asarray(entry["offsets"], dtype=np.float32))
    strokes = [s.tolist() for s in offsets_to_strokes(raw)]
    return json.dumps({"text": entry["text"], "strokes": strokes})


def _style_xml(model: Any) -> str:
    entry = model.train_styles[1]
    strokes = offsets_to_strokes(model.norm.invert(np.asarray(entry["offsets"], dtype=np.float32)))
    body = "".join(
        "<Stroke>" + "".join(f'<Point x="{x * 10:.1f}" y="{-y * 10:.1f}" time="0"/>' for x, y in s[:, :2]) + "</Stroke>"
        for s in strokes
    )
    return f"<WhiteboardCaptureSession><StrokeSet>{body}</StrokeSet></WhiteboardCaptureSession>"


def test_upload_styles_json_xml_svg_and_write_with_them(client: TestClient, tiny_synthesis_model: Any, tmp_path: Path) -> None:
    res = client.post("/api/styles", json={"filename": "mine.json", "content": _style_json(tiny_synthesis_model)})
    assert res.status_code == 200, res.text
    style = res.json()
    assert style["id"].startswith("upload:") and style["text"] == tiny_synthesis_model.train_styles[0]["text"]
    for chosen in (style["id"], "writer:1"):
        status, evs = write(client, text="ab", style=chosen)
        assert status == 200 and evs[-1][0] == "done"
    words = tiny_synthesis_model.train_styles[1]["text"]
    res = client.post("/api/styles", json={"filename": "line.xml", "content": _style_xml(tiny_synthesis_model), "text": words})
    assert res.status_code == 200, res.text
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><title>ab</title><polyline points="0,0 5,5 10,0 15,5"/><path d="M 20 0 L 25 5 L 30 0"/></svg>'
    res = client.post("/api/styles", json={"filename": "pen.svg", "content": svg})
    assert res.status_code == 200 and res.json()["text"] == "ab"
    # a filename is only a name: nothing is read from or written to it
    res = client.post("/api/styles", json={"filename": str(tmp_path / "x.json"), "content": _style_json(tiny_synthesis_model)})
    assert res.status_code == 200 and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    "filename, content, text, status, needle",
    [
        ("bad.xml", "<StrokeSet><Stroke><Point x='1'", None, 400, "malformed"),
        ("bad.json", "{\"strokes\": [[[0, 0], [1, \"x\"]]]}", "ab", 400, "stroke 0"),
        ("bad.json", "[]", "ab", 400, "non-empty"),
        ("curve.svg", '<svg><path d="M 0 0 C 1 1 2 2 3 3"/></svg>', "ab", 400, "not supported"),
        ("notes.txt", "hello", "ab", 400, ".xml"),
        ("/etc/passwd", "root:x:0:0", "ab", 400, ".xml"),
        ("dot.json", "{\"strokes\": [[[0, 0]]]}", "ab", 400, "points"),
        ("mine.json", "{\"strokes\": [[[0, 0], [1, 1], [2, 0]]]}", None, 400, "transcription"),
        ("mine.json", "{\"strokes\": [[[0, 0], [1, 1], [2, 0]]]}", "\u00e9t\u00e9", 400, "vocabulary"),
        ("huge.json", "[" + "[[0,0],[1,1]]," * 100_000 + "[[0,0],[1,1]]]", "ab", 413, "bytes"),
    ],
)
def test_bad_uploads_are_refused_clearly(client: TestClient, filename: str, content: str, text: Any, status: int, needle: str) -> None:
    res = client.post("/api/styles", json={"filename": filename, "content": content, "text": text})
    assert res.status_code == status, res.text
    assert needle in res.json()["error"]
    assert "seqgen-serve-" not in res.json()["error"]  # the private temp path is not shown


def test_too_many_requests_get_429_and_the_others_finish(tiny_synthesis_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(tiny_synthesis_model, max_concurrent=1, max_queue=1)
    slow_down(monkeypatch, engine, 0.01)
    with serving(create_app(engine)) as url:
        def one(i: int) -> tuple[int, Any]:
            with httpx.Client(base_url=url, timeout=60) as c:
                return write(c, text="ab", seed=i)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            first = pool.submit(one, 0)
            _wait(lambda: engine.status()["running"] == 1)
            second = pool.submit(one, 1)
            _wait(lambda: engine.status()["waiting"] == 1)
            third = pool.submit(one, 2).result(timeout=60)
            assert third[0] == 429 and "busy" in third[1]["error"]
            assert first.result(timeout=60)[0] == 200 and second.result(timeout=60)[0] == 200
        status = engine.status()
        assert status["completed"] == 2 and status["refused"] == 1 and status["peak_running"] == 1
        assert status["running"] == status["waiting"] == 0


def test_concurrent_clients_share_the_slots(tiny_synthesis_model: Any) -> None:
    engine = make_engine(tiny_synthesis_model, max_concurrent=2, max_queue=6)
    with serving(create_app(engine)) as url:
        def one(i: int) -> tuple[int, Any]:
            with httpx.Client(base_url=url, timeout=120) as c:
                return write(c, text="ab\nba", seed=i)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(6), timeout=120))
    assert all(status == 200 and evs[-1][0] == "done" for status, evs in results)
    ids = {evs[0][1]["id"] for _, evs in results}
    assert len(ids) == 6
    status = engine.status()
    assert status["completed"] == 6 and status["peak_running"] <= 2 and status["running"] == 0


def test_a_client_that_disconnects_mid_line_frees_its_work(tiny_synthesis_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(tiny_synthesis_model, max_concurrent=1, max_queue=0, max_points_per_char=400.0)
    slow_down(monkeypatch, engine, 0.01)  # a full line would take >= 10 s
    with serving(create_app(engine)) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            with c.stream("POST", "/api/write", json={"text": "ab ab ab ab ab", "seed": 1}) as res:
                for line in res.iter_lines():
                    if line.startswith("event: points"):
                        break  # leave mid-line
        _wait(lambda: engine.status()["running"] == 0, timeout=10)
        status = engine.status()
        assert status["cancelled"] == 1 and status["completed"] == 0
        assert status["steps"] < engine.max_points("ab ab ab ab ab") / 2  # stopped long before the guard
        with httpx.Client(base_url=url, timeout=60) as c:  # the slot is free again (max_queue=0)
            status_code, evs = write(c, text="ab")
        assert status_code == 200 and evs[-1][0] == "done"


def _wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_cli_refuses_bad_settings(tiny_synthesis_run: Path, tmp_path: Path) -> None:
    from conftest import compose_cfg
    from seqgen.cli.serve import build_engine, validate
    from seqgen.errors import SeqgenError

    for override, needle in (("max_concurrent=0", "max_concurrent=0"), ("port=70000", "port=70000"), ("max_points_per_char=0", "max_points_per_char"), ("num_threads=0", "num_threads=0"),
                             ("adapt_seconds=0", "adapt_seconds"), ("max_best_of=0", "max_best_of"), ("max_capture_lines=0", "max_capture_lines")):
        with pytest.raises(SeqgenError, match=needle):
            validate(compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}", override]))
    with pytest.raises(SeqgenError, match="does not exist"):
        build_engine(compose_cfg("serve", tmp_path, [f"ckpt={tmp_path / 'none'}", "styles_dir=null"]))
    with pytest.raises(SeqgenError, match="styles_dir"):
        build_engine(compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}", f"styles_dir={tmp_path / 'nope'}"]))
    with pytest.raises(SeqgenError, match="recognizer"):  # best-of needs a recogniser, not a synthesis run
        build_engine(compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}", "styles_dir=null", f"recognizer={tiny_synthesis_run}"]))
    from seqgen.serve.engine import Engine, Limits

    class PredictionLike:  # a handwriting model that writes no given text
        family = "handwriting"

    with pytest.raises(SeqgenError, match="synthesis checkpoint"):
        Engine(PredictionLike(), Limits())


def test_the_shipped_defaults_build_the_app(tiny_synthesis_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`seqgen-serve ckpt=<run>` (hence `make demo`) with conf/serve.yaml as shipped: `styles_dir: auto`
    is the handwriting family's `default_styles_dir` (paths.styles_dir, SEQGEN_STYLES)."""
    from conftest import SHARED, compose_cfg
    from seqgen.cli.serve import build_engine, styles_folder, validate
    from seqgen.core.family import get_family

    monkeypatch.delenv("SEQGEN_STYLES", raising=False)
    cfg = compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}"])
    assert cfg.styles_dir == "auto"
    validate(cfg)
    client = TestClient(create_app(build_engine(cfg)))  # no styles beside tmp_path: the demo runs without
    info = client.get("/api/info").json()
    assert [style["id"] for style in info["styles"] if style["id"].startswith("real:")] == []
    assert write(client, text="ab")[1][-1][0] == "done"

    family = get_family("handwriting")
    assert family.default_styles_dir(cfg) == tmp_path / ".." / "shared" / "real-samples" / "iam-ondb" / "styles"
    folder = SHARED / "real-samples" / "iam-ondb" / "styles"
    if any(folder.glob("style-*-strokes.npy")):
        monkeypatch.setenv("SEQGEN_STYLES", str(folder))
        cfg = compose_cfg("serve", tmp_path, [f"ckpt={tiny_synthesis_run}"])
        assert styles_folder(cfg.styles_dir, family, cfg) == folder
        assert client.get("/api/status").status_code == 200


@pytest.mark.slow
def test_cli_serves_on_a_free_loopback_port(tiny_synthesis_run: Path, tmp_path: Path) -> None:
    """The real command in its own process (a torch start-up: slow on a busy machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "seqgen.cli.serve", f"ckpt={tiny_synthesis_run}", f"hydra.run.dir={tmp_path / 'h'}", "port=0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the server exited"
            if "Uvicorn running on" in line:
                url = line.split("Uvicorn running on ", 1)[1].split()[0]
        assert url and url.startswith("http://127.0.0.1:")
        info = httpx.get(f"{url}/api/info", timeout=30).json()
        assert info["styles"][0]["id"] == "none"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_real_iam_ondb_styles_when_configured(tiny_synthesis_model: Any) -> None:
    from conftest import SHARED
    from seqgen.data.handwriting.user_styles import load_real_styles
    from seqgen.serve.engine import Engine, Limits

    folder = SHARED / "real-samples" / "iam-ondb" / "styles"
    if not any(folder.glob("style-*-strokes.npy")):
        pytest.skip(f"no real IAM-OnDB styles in {folder}")
    real = load_real_styles(folder)
    engine = Engine(tiny_synthesis_model, Limits(max_points_per_char=12.0), real)
    writable = [n for n, line in enumerate(real) if set(line.text) <= engine.vocab_set]
    ids = [s["id"] for s in engine.style_list()]
    assert [i for i in ids if i.startswith("real:")] == [f"real:{n}" for n in writable]  # the others are dropped, logged
    if writable:
        status, evs = write(TestClient(create_app(engine)), text="ab", style=f"real:{writable[0]}")
        assert status == 200 and evs[-1][0] == "done"


def test_a_page_layout_request_wraps_the_text_and_downloads_the_page(client: TestClient) -> None:
    from seqgen.render.plotter import GcodeOptions, read_gcode

    text = "ab ba abab ba ab b a abab\n\nba ab"
    status, evs = write(client, text=text, layout={"width": "10ch", "align": "justify", "page": "A5"})
    assert status == 200 and evs[-1][0] == "done"
    job = evs[0][1]
    assert job["lines"] == ["ab ba abab", "ba ab b a", "abab", "ba ab"]
    page = job["page"]
    assert (page["width_mm"], page["height_mm"]) == (148.0, 210.0) and len(page["baselines"]) == 4
    assert np.all(np.diff(page["baselines"]) > 0) and page["mm_per_unit"] > 0
    data = client.get(f"/api/jobs/{job['id']}/page.json").json()
    assert len(data["lines"]) == 4 and len(data["boxes"]) == 4
    xs = [x for line in data["lines"] for s in line for x, _ in s]
    assert 20 - 1e-6 <= min(xs) and max(xs) <= 148 - 20 + 1e-6  # inside the margins
    svg = client.get(f"/api/jobs/{job['id']}/page.svg")
    assert svg.status_code == 200 and 'width="148mm"' in svg.text and "<path" in svg.text
    assert client.get(f"/api/jobs/{job['id']}/page.pdf").content.startswith(b"%PDF")
    assert client.get(f"/api/jobs/{job['id']}/page.png").content[:4] == b"\x89PNG"
    plotter = client.get(f"/api/jobs/{job['id']}/page-plotter.svg").text
    assert plotter.count('inkscape:groupmode="layer"') == 4 and "<rect" not in plotter
    gcode = client.get(f"/api/jobs/{job['id']}/page.gcode")
    assert gcode.status_code == 200 and gcode.headers["content-disposition"].endswith('handwriting-page.gcode"')
    drawing = read_gcode(gcode.text, GcodeOptions(), 210.0)
    assert len(drawing.strokes) == plotter.count("<path")
    assert client.get(f"/api/jobs/{job['id']}/page.docx").status_code == 404
    # without a layout there is no page
    status, evs = write(client, text="ab")
    assert client.get(f"/api/jobs/{evs[0][1]['id']}/page.svg").status_code == 404


@pytest.mark.parametrize(
    "layout, needle",
    [
        ({"width": "40"}, "40ch"),
        ({"width": "200ch"}, "at most"),
        ({"align": "middle"}, "align"),
        ({"page": "B9"}, "page"),
        ({"gcode": {}}, "layout must be"),
        ("A4", "layout must be"),
        ({"page": "A6", "x_height": 10}, "fit on the A6 page"),
    ],
)
def test_bad_page_layouts_are_refused(client: TestClient, layout: Any, needle: str) -> None:
    res = client.post("/api/write", json={"text": "ab " * 30, "layout": layout})
    assert res.status_code == 400 and needle in res.json()["error"] and res.json()["field"] in ("layout", "text")
