"""The demo's HTTP layer (Starlette): one page, static files, a small JSON API, a server-sent event stream.

    GET  /                          the page (seqgen/serve/static/index.html)
    GET  /api/info                  vocabulary, styles, limits, defaults
    POST /api/check     {text}      the characters the model cannot write (line, col, char)
    POST /api/styles    {filename, content, text}   parse an uploaded / drawn style -> {id, ...}
    POST /api/capture   {lines: [{text, strokes: [[[x, y, t], ...], ...]}]}   lines written on the page -> a style {id, ...}
    POST /api/personalise {style}   adapt a copy of the network to that style's lines -> {steps, seconds, nll_before, nll_after}
    POST /api/write     {text, style, bias, seed, unknown_chars, best_of}  -> text/event-stream:
         event: job      {id, lines}                 once the request holds a slot
         event: line     {line, text}                a line starts
         event: points   {line, points: [[dx, dy, pen_up], ...]}   raw-unit offsets, in order
         event: line_end {line, ended, points, seconds}
         event: done     {id}   |   event: error {error}
    GET  /api/jobs/{id}.svg|.png?stroke_width=W        the written lines
    GET  /api/jobs/{id}/page.svg|.png|.pdf|.gcode|.json, /page-plotter.svg   the page (requests with `layout`, seqgen/serve/pages.py)
    GET  /api/jobs/{id}/alignment/{line}.png           window weights phi(t, u) of one line
    GET  /api/status                                   running / waiting / completed / cancelled counts

Every refusal is a 4xx with {"error": "...", ...details} and the page shows the message. A client
that goes away mid-line cancels its job: the sampler stops at its next step and frees the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from importlib import resources
from typing import Any, AsyncIterator, Iterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from seqgen.errors import SeqgenError
from seqgen.serve.engine import Engine, Job, RequestError, WriteRequest
from seqgen.serve.pages import PAGE_KINDS, page_event, render_page, wrap_for_page

log = logging.getLogger(__name__)

STATIC = resources.files("seqgen.serve") / "static"
KEEPALIVE_S = 1.0  # a comment line while waiting: a vanished client is noticed within a second
MAX_JSON_BYTES = 64_000  # any JSON body but an upload
# sentences the page asks a user to write (capitals, digits, punctuation: what they will type)
CAPTURE_PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Meet me at 7:30 on Friday, near the station.",
    "\"Thank you!\" she said, and smiled.",
    "Call Anna on 555-0199 before 12 May.",
    "It costs $4.50 - that's 20% off.",
]


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body, refusing (413) more than `limit` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the request is {int(declared)} bytes: at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request is larger than {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise RequestError(400, "the request body is not valid JSON (or nested too deeply)") from None


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def coalesce(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Merge consecutive `points` events of one line into one (one event per step is too chatty)."""
    out: list[tuple[str, Any]] = []
    for event, data in events:
        if event == "points" and out and out[-1][0] == "points" and out[-1][1]["line"] == data["line"]:
            out[-1][1]["points"].extend(data["points"])
        else:
            out.append((event, {**data, "points": list(data["points"])} if event == "points" else data))
    return out


class DemoRoutes:
    """The request handlers of the demo, over one `Engine` (routes: the module docstring)."""

    def __init__(self, engine: Engine, title: str) -> None:
        self.engine = engine
        self.title = title

    async def index(self, request: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    async def info(self, request: Request) -> Response:
        lim = self.engine.limits
        return JSONResponse({
            "title": self.title,
            "vocab": self.engine.vocab,
            "styles": self.engine.style_list(),
            "limits": {
                "max_lines": lim.max_lines, "max_chars": lim.max_chars, "max_upload_bytes": lim.max_upload_bytes,
                "bias": [0.0, 10.0], "max_capture_lines": lim.max_capture_lines,
                "max_best_of": lim.max_best_of if self.engine.reader is not None else 1,
                "adapt_steps": lim.adapt_steps, "adapt_seconds": lim.adapt_seconds,
            },
            "prompts": CAPTURE_PROMPTS,
            "median_step": float(self.engine.norm.median_step),
        })

    async def check(self, request: Request) -> Response:
        body = await read_json(request, MAX_JSON_BYTES)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise RequestError(400, "text must be a string", field="text")
        from seqgen.serve.engine import unknown_characters

        return JSONResponse({"unknown": unknown_characters(text.split("\n"), self.engine.vocab_set)})

    async def upload(self, request: Request) -> Response:
        # JSON {filename, content (text), text}; the limit covers the JSON quoting of the file too
        body = await read_json(request, 2 * self.engine.limits.max_upload_bytes + 4096)
        if not isinstance(body, dict) or not isinstance(body.get("content"), str) or not isinstance(body.get("filename"), str):
            raise RequestError(400, "upload {filename, content, text}: the style file's name and its text content", field="file")
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise RequestError(400, "text must be a string", field="style_text")
        content = body["content"].encode("utf-8")
        result = await asyncio.to_thread(self.engine.add_upload, body["filename"][-100:], content, text)
        return JSONResponse(result)

    async def capture(self, request: Request) -> Response:
        body = await read_json(request, 2 * self.engine.limits.max_upload_bytes + 4096)
        lines = body.get("lines") if isinstance(body, dict) else None
        return JSONResponse(await asyncio.to_thread(self.engine.add_capture, lines))

    async def personalise(self, request: Request) -> Response:
        body = await read_json(request, MAX_JSON_BYTES)
        style = body.get("style") if isinstance(body, dict) else None
        if not isinstance(style, str):
            raise RequestError(400, "style must be the id of a captured or uploaded style", field="style")
        # a worker thread: the event loop keeps serving other clients while the copy adapts
        return JSONResponse(await asyncio.to_thread(self.engine.personalise_style, style))

    async def write(self, request: Request) -> Response:
        body = await read_json(request, MAX_JSON_BYTES)
        body, page = wrap_for_page(body, self.engine.vocab_set, self.engine.limits.max_chars, self.engine.advance)
        req = WriteRequest.parse(body, self.engine.vocab_set, self.engine.limits)
        req.page = page
        self.engine.check_request(req)
        self.engine.admit()
        return StreamingResponse(self.stream(request, req), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def stream(self, request: Request, req: WriteRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        slots = self.engine.slots()
        job: Job | None = None
        worker: threading.Thread | None = None
        # wait for a slot, telling the page so and noticing a client that leaves meanwhile (a task,
        # not wait_for: a timeout racing the acquisition must never lose a slot)
        acquire = asyncio.ensure_future(slots.acquire())
        try:
            while not (await asyncio.wait({acquire}, timeout=KEEPALIVE_S))[0]:
                yield ": waiting for a free slot\n\n"
            self.engine.started()
            job = self.engine.new_job(req)

            def emit(event: str, data: dict[str, Any]) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, (event, data))

            def work() -> None:
                outcome = "completed"
                try:
                    self.engine.run_job(job, emit)
                    if job.cancel.is_set():
                        outcome = "cancelled"
                    else:
                        emit("done", {"id": job.id})
                except Exception as err:  # noqa: BLE001 -- reported to the page; the server stays up
                    outcome = "failed"
                    message = err.message if isinstance(err, RequestError) else (
                        str(err) if isinstance(err, SeqgenError) else f"sampling failed ({type(err).__name__}: {err})")
                    if not isinstance(err, (RequestError, SeqgenError)):
                        log.exception("sampling failed")
                    emit("error", {"error": message})
                finally:
                    self.engine.finish(job, outcome)
                    loop.call_soon_threadsafe(slots.release)  # the slot is free once the thread is done
                    emit("_end", {})

            yield sse("job", {"id": job.id, "lines": req.lines, **page_event(req.page, self.engine.x_height)})
            worker = threading.Thread(target=work, name=f"seqgen-serve-{job.id}", daemon=True)
            worker.start()
            ended = False
            while not ended:
                try:
                    pending = [await asyncio.wait_for(queue.get(), KEEPALIVE_S)]
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                while not queue.empty():  # whatever piled up meanwhile goes out together
                    pending.append(queue.get_nowait())
                for event, data in coalesce(pending):
                    if event == "_end":
                        ended = True
                        break
                    yield sse(event, data)
        finally:
            # normal end, client gone (cancelled / send failed) or error: stop the sampler
            if job is None:
                self.engine.left_queue()
                if not acquire.cancel() and not acquire.cancelled() and acquire.exception() is None:
                    slots.release()  # acquired just as the client left
            else:
                job.cancel.set()  # no-op for a finished job; the worker frees the slot itself
                if worker is None:  # got a slot but never started the thread
                    self.engine.finish(job, "cancelled")
                    slots.release()

    async def download(self, request: Request) -> Response:
        job = self.engine.job(request.path_params["job"])
        kind = request.path_params["kind"]
        if kind not in ("svg", "png"):
            raise RequestError(404, "downloads are .svg or .png")
        try:
            width = float(request.query_params.get("stroke_width", "2"))
        except ValueError:
            raise RequestError(400, "stroke_width must be a number", field="stroke_width") from None
        if not 0.1 <= width <= 20:
            raise RequestError(400, f"stroke_width must be in [0.1, 20], got {width:g}", field="stroke_width")
        data = await asyncio.to_thread(self.engine.render, job, kind, width)
        media = "image/svg+xml" if kind == "svg" else "image/png"
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="handwriting.{kind}"'})

    async def page_download(self, request: Request) -> Response:
        job = self.engine.job(request.path_params["job"])
        kind = request.path_params["kind"]
        data = await asyncio.to_thread(render_page, job, kind)
        name = "handwriting-plotter.svg" if kind == "plotter.svg" else f"handwriting-page.{kind}"
        return Response(data, media_type=PAGE_KINDS[kind], headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def alignment(self, request: Request) -> Response:
        job = self.engine.job(request.path_params["job"])
        data = await asyncio.to_thread(self.engine.render_alignment, job, int(request.path_params["line"]))
        return Response(data, media_type="image/png")

    async def status(self, request: Request) -> Response:
        return JSONResponse(self.engine.status())

    async def refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return JSONResponse(exc.payload(), status_code=exc.status)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


def create_app(engine: Engine, title: str = "seqgen handwriting demo") -> Starlette:
    """The Starlette application serving `engine`."""
    demo = DemoRoutes(engine, title)
    routes = [
        Route("/", demo.index),
        Route("/api/info", demo.info),
        Route("/api/check", demo.check, methods=["POST"]),
        Route("/api/styles", demo.upload, methods=["POST"]),
        Route("/api/capture", demo.capture, methods=["POST"]),
        Route("/api/personalise", demo.personalise, methods=["POST"]),
        Route("/api/write", demo.write, methods=["POST"]),
        Route("/api/jobs/{job}/page.{kind}", demo.page_download),
        Route("/api/jobs/{job}/page-{kind}", demo.page_download),
        Route("/api/jobs/{job}.{kind}", demo.download),
        Route("/api/jobs/{job}/alignment/{line:int}.png", demo.alignment),
        Route("/api/status", demo.status),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={RequestError: demo.refused, HTTPException: demo.http_error})


@contextlib.contextmanager
def serving_in_thread(app: Starlette, host: str = "127.0.0.1", timeout: float = 30.0) -> Iterator[str]:
    """Run `app` on uvicorn in a background thread on a free port of `host`; yields the base URL
    (tests and benchmarks talk to a real server without a second process)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="seqgen-serve-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {host} within {timeout:g} s")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
        sock.close()
