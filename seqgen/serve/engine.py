"""The demo's sampling engine: one synthesis model, styles, uploads, admission control, jobs.

Everything the web layer (`seqgen.serve.app`) needs, without any HTTP in it:

* `WriteRequest.parse` validates a request (text lines, characters, bias, seed, style id) before any
  work starts; problems raise `RequestError` (HTTP status + message + details for the page).
* The model is reached through its family (`seqgen.core.family.family_of`): `write` samples,
  with the sampler's per-step hook streaming the points.
* Styles are ids, never paths: ``none``, ``writer:N`` (training writers embedded in the checkpoint),
  ``real:N`` (the IAM-OnDB styles of the *configured* folder, loaded once at start) and
  ``upload:<token>`` (a file or a drawing uploaded earlier, parsed by
  `seqgen.data.handwriting.user_styles.load_prime` from a private temp folder and kept in memory)
  and ``capture:<token>`` (lines the user wrote on the page for prompt sentences, checked by
  `seqgen.families.handwriting.capture`; the first line primes).
* Personalisation (`personalise_style`): a copy of the network takes at most ``adapt_steps``
  gradient steps and ``adapt_seconds`` CPU seconds on a style's lines
  (`seqgen.families.handwriting.personalise`); the copy is kept with the style, the loaded model
  and the checkpoint never change. One adaptation at a time, in a worker thread.
* Best-of-N (``best_of`` with a recogniser): N candidates per line in one batch, the one read
  closest to the text is kept and sent whole once chosen.
* Admission: at most ``max_concurrent`` requests sample at once (slots); up to ``max_queue`` more
  wait for a slot; beyond that a request is refused (HTTP 429) before anything starts.
* A request is written line after line in a worker thread; every sampled point goes to the page
  through the sampler's per-step hook. A cancelled job (client gone) makes the hook return False,
  so the sampler stops at the next step and the slot is freed.

Points are streamed in raw units (the training data's units, y up), as the sampler hands them to
its hook: the normalised point x_t = (dx, dy, e) is (dx * std_x + mean_x, dy * std_y + mean_y, e).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from seqgen.data.handwriting.strokes import NormStats
from seqgen.errors import SeqgenError
from seqgen.core.family import family_of

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".xml", ".svg", ".json")
BIAS_RANGE = (0.0, 10.0)
SEED_MAX = 2**31 - 1
FLUSH_S = 0.03  # streamed points are sent in batches at most this far apart


class RequestError(Exception):
    """A request the server refuses: HTTP `status`, a message for the page, optional details."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def payload(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask (validated in `seqgen.cli.serve`)."""

    max_lines: int = 40
    max_chars: int = 80
    max_concurrent: int = 2
    max_queue: int = 8
    max_upload_bytes: int = 1_000_000
    max_prime_points: int = 2000
    max_uploads: int = 64
    max_jobs: int = 32
    max_points_per_char: float = 90.0
    max_capture_lines: int = 8
    adapt_steps: int = 20
    adapt_seconds: float = 20.0
    max_best_of: int = 8


def unknown_characters(lines: list[str], vocab: set[str]) -> list[dict[str, Any]]:
    """Every character the model cannot write: line, column (0-based), the character."""
    return [
        {"line": row, "col": col, "char": ch}
        for row, line in enumerate(lines)
        for col, ch in enumerate(line)
        if ch not in vocab
    ]


@dataclass
class WriteRequest:
    lines: list[str]
    bias: float
    seed: int
    style: str
    page: Optional[Any] = None  # `seqgen.serve.pages.PageRequest` when the text is laid out on a page
    best_of: int = 1

    @classmethod
    def parse(cls, body: Any, vocab: set[str], limits: Limits, unknown: str = "error") -> "WriteRequest":
        """Validate a JSON body {text, bias, seed, style, unknown_chars, best_of}; raises RequestError (400)."""
        if not isinstance(body, dict):
            raise RequestError(400, "the request body must be a JSON object")
        text = body.get("text")
        if not isinstance(text, str):
            raise RequestError(400, "text must be a string (lines separated by newlines)", field="text")
        lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            raise RequestError(400, "nothing to write: type some text", field="text")
        if len(lines) > limits.max_lines:
            raise RequestError(400, f"{len(lines)} lines is too many: at most {limits.max_lines} per request", field="text")
        too_long = [i for i, line in enumerate(lines) if len(line) > limits.max_chars]
        if too_long:
            raise RequestError(
                400, f"line {too_long[0] + 1} has {len(lines[too_long[0]])} characters: at most {limits.max_chars} per line; "
                "split it into several lines", field="text", lines=too_long,
            )
        mode = body.get("unknown_chars", unknown)
        if mode not in ("error", "drop"):
            raise RequestError(400, f"unknown_chars must be error or drop, got {mode!r}", field="unknown_chars")
        bad = unknown_characters(lines, vocab)
        if bad and mode == "error":
            chars = "".join(sorted({b["char"] for b in bad}))
            raise RequestError(
                400, f"the model cannot write {chars!r}: remove the marked characters or choose to drop them",
                field="text", unknown=bad,
            )
        if bad:
            lines = [l for l in ("".join(ch for ch in line if ch in vocab).strip() for line in lines) if l]
            if not lines:
                raise RequestError(400, "nothing left to write after dropping the characters the model cannot write", field="text")
        bias = _number(body.get("bias", 0.0), "bias", *BIAS_RANGE)
        seed = int(_number(body.get("seed", 0), "seed", 0, SEED_MAX, integer=True))
        style = body.get("style") or "none"
        if not isinstance(style, str) or len(style) > 80:
            raise RequestError(400, "style must be a style id from the picker", field="style")
        best_of = int(_number(body.get("best_of", 1), "best_of", 1, limits.max_best_of, integer=True))
        return cls(lines, bias, seed, style, best_of=best_of)


def _number(value: Any, name: str, low: float, high: float, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise RequestError(400, f"{name} must be a number in [{low:g}, {high:g}], got {value!r}", field=name)
    if integer and float(value) != int(value):
        raise RequestError(400, f"{name} must be a whole number, got {value!r}", field=name)
    if not low <= float(value) <= high:
        raise RequestError(400, f"{name} must be in [{low:g}, {high:g}], got {value!r}", field=name)
    return float(value)


@dataclass
class Job:
    """One request: its lines, the cancel flag, and what was written (raw offsets, window weights)."""

    id: str
    request: WriteRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    offsets: list[np.ndarray] = field(default_factory=list)
    phis: list[Optional[np.ndarray]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    steps: int = 0


@dataclass
class Counters:
    running: int = 0
    waiting: int = 0
    completed: int = 0
    cancelled: int = 0
    refused: int = 0
    failed: int = 0
    steps: int = 0
    peak_running: int = 0


@dataclass(frozen=True)
class Style:
    """A style to prime with: normalised offsets (T, 3) with the start row, and what they say."""

    label: str
    offsets: np.ndarray
    text: str
    lines: tuple[tuple[np.ndarray, str], ...] = ()  # the writer's lines (normalised) a personalisation adapts on
    model: Any = None  # the personalised copy of the network, once adapted


class Engine:
    """Owns the model and all server state; thread-safe where the worker threads touch it."""

    def __init__(self, model: Any, limits: Limits, real_styles: Optional[list[Any]] = None, reader: Optional[Callable[[list[np.ndarray]], list[str]]] = None) -> None:
        self.family = family_of(model)
        if not self.family.writes_text(model):
            raise SeqgenError(
                f"the demo needs a handwriting synthesis checkpoint, got a {type(model).__name__}: "
                "train one with seqgen-train experiment=handwriting_synthesis_quickstart"
            )
        self.model = model.eval()
        self.limits = limits
        self.norm: NormStats = model.norm
        self.vocab: list[str] = list(model.vocab)
        self.vocab_set = set(self.vocab)
        max_model_chars = int(model.hparams.get("max_text_chars") or limits.max_chars)
        if limits.max_chars > max_model_chars:
            self.limits = Limits(**{**limits.__dict__, "max_chars": max_model_chars})
        self.styles: dict[str, Style] = {}
        for n, entry in enumerate(model.train_styles):
            offsets = np.asarray(entry["offsets"], dtype=np.float32)
            self._add_style(f"writer:{n}", Style(f"Training writer {n} ({entry['writer']})", offsets, entry["text"]))
        for n, line in enumerate(real_styles or []):
            self._add_style(f"real:{n}", Style(f"IAM-OnDB style {n}", self.norm.adapt(line.offsets), line.text))
        self.uploads: collections.OrderedDict[str, Style] = collections.OrderedDict()
        self.jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self.counters = Counters()
        self._lock = threading.Lock()
        self._slots: Optional[asyncio.Semaphore] = None
        self._adapting = threading.Lock()
        self.reader = reader  # a recogniser's read (raw strokes -> texts) for best-of-N, or None
        from seqgen.families.handwriting.layout import writer_metrics

        # width per character in x-heights (to wrap text in mm) and the writers' x-height (raw units)
        self.advance, self.x_height = writer_metrics(model)

    # --- styles ----------------------------------------------------------------------------------
    def _add_style(self, key: str, style: Style) -> None:
        """Keep a style only if the model can write its transcription (it is fed as text)."""
        bad = sorted({ch for ch in style.text if ch not in self.vocab_set})
        if bad:
            log.warning("style %s dropped: its transcription uses characters the model cannot write: %r", key, "".join(bad))
            return
        self.styles[key] = style

    def style_list(self) -> list[dict[str, str]]:
        return [{"id": "none", "label": "No style (the model's own)"}] + [
            {"id": key, "label": style.label, "text": style.text} for key, style in self.styles.items()
        ]

    def check_request(self, req: WriteRequest) -> None:
        """Refuse, before the stream starts, an unknown style or best-of-N without a recogniser."""
        self.style_for(req.style)
        if req.best_of > 1 and self.reader is None:
            raise RequestError(400, f"best of {req.best_of} needs a recogniser: start seqgen-serve with recognizer=<recogniser run>",
                               field="best_of")

    def style_for(self, style: str) -> Optional[Style]:
        if style == "none":
            return None
        with self._lock:
            found = self.styles.get(style) or self.uploads.get(style)
        if found is None:
            raise RequestError(400, f"unknown style {style!r}: pick one from the list or upload it again", field="style")
        return found

    def add_upload(self, filename: str, content: bytes, text: Optional[str]) -> dict[str, Any]:
        """Parse an uploaded style (IAM-OnDB XML, SVG, JSON) -> its style id; RequestError if bad."""
        suffix = Path(filename).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise RequestError(400, f"{filename!r}: style files must be .xml (IAM-OnDB), .svg or .json", field="file")
        if len(content) > self.limits.max_upload_bytes:
            raise RequestError(413, f"the file is {len(content)} bytes: at most {self.limits.max_upload_bytes}", field="file")
        from seqgen.data.handwriting.user_styles import load_prime

        # the file gets a private folder and a fixed name: nothing from the request names a path
        with tempfile.TemporaryDirectory(prefix="seqgen-serve-") as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(content)
            try:
                offsets, file_text = load_prime(path)
            except SeqgenError as err:
                raise RequestError(400, str(err).replace(str(path), filename), field="file") from None
            except (ValueError, RecursionError, MemoryError) as err:
                raise RequestError(400, f"{filename}: unreadable style file ({type(err).__name__})", field="file") from None
        n_points = len(offsets) - 1
        if n_points < 2:
            raise RequestError(400, f"{filename}: the style has {n_points} points; write a few words", field="file")
        if n_points > self.limits.max_prime_points:
            raise RequestError(
                400, f"{filename}: the style has {n_points} points: at most {self.limits.max_prime_points} (one short line)", field="file",
            )
        transcription = self._check_transcription((text or file_text or "").strip(), "style_text")
        offsets = self.norm.adapt(offsets)
        return self._keep("upload", Style(f"Uploaded: {filename}", offsets, transcription, ((offsets, transcription),)), n_points)

    def _check_transcription(self, transcription: str, field: str) -> str:
        if not transcription:
            raise RequestError(400, "say what the style sample says (its transcription) in the text field", field=field)
        bad = "".join(sorted({ch for ch in transcription if ch not in self.vocab_set}))
        if bad:
            raise RequestError(400, f"the style's transcription has characters not in the model's vocabulary: {bad!r}", field=field)
        if len(transcription) > self.limits.max_chars:
            raise RequestError(400, f"the style's transcription is longer than {self.limits.max_chars} characters", field=field)
        return transcription

    def _keep(self, kind: str, style: Style, points: int) -> dict[str, Any]:
        key = f"{kind}:{secrets.token_urlsafe(9)}"
        with self._lock:
            self.uploads[key] = style
            while len(self.uploads) > self.limits.max_uploads:
                self.uploads.popitem(last=False)
        return {"id": key, "label": style.label, "text": style.text, "points": points, "lines": len(style.lines)}

    def add_capture(self, lines: Any) -> dict[str, Any]:
        """Lines written on the page, [{text, strokes: [[[x, y, t], ...], ...]}, ...] -> a style id;
        a bad line is refused with what is wrong with it (`seqgen.families.handwriting.capture`)."""
        from seqgen.families.handwriting.capture import capture_offsets

        if not isinstance(lines, list) or not lines:
            raise RequestError(400, "no captured lines: write the prompt sentence in the box, then press Add line", field="capture")
        if len(lines) > self.limits.max_capture_lines:
            raise RequestError(400, f"{len(lines)} captured lines: at most {self.limits.max_capture_lines}", field="capture")
        kept = []
        for n, line in enumerate(lines):
            label = f"line {n + 1}"
            if not isinstance(line, dict):
                raise RequestError(400, f"{label}: a captured line is {{text, strokes}}", field="capture", line=n)
            text = line.get("text") if isinstance(line.get("text"), str) else ""
            try:
                offsets = capture_offsets(line.get("strokes"), text, label)
            except SeqgenError as err:
                raise RequestError(400, str(err), field="capture", line=n) from None
            if len(offsets) - 1 > self.limits.max_prime_points:
                raise RequestError(400, f"{label} has {len(offsets) - 1} points: at most {self.limits.max_prime_points} (one short line)",
                                   field="capture", line=n)
            kept.append((self.norm.adapt(offsets), self._check_transcription(text.strip(), "capture")))
        first, text = kept[0]
        return self._keep("capture", Style(f"Your handwriting ({len(kept)} lines)", first, text, tuple(kept)), sum(len(o) - 1 for o, _ in kept))

    def personalise_style(self, style_id: str) -> dict[str, Any]:
        """Adapt a copy of the network to an uploaded or captured style's lines (bounded by the
        limits' adapt_steps and adapt_seconds); later requests with that style write with the copy."""
        from seqgen.families.handwriting.personalise import AdaptSettings, personalise

        style = self.style_for(style_id)
        if style is None or not style.lines or not style_id.startswith(("upload:", "capture:")):
            raise RequestError(400, "personalisation adapts to your own lines: capture or upload a style first", field="style")
        if not self._adapting.acquire(blocking=False):
            raise RequestError(429, "another personalisation is running: try again in a few seconds")
        try:
            settings = AdaptSettings(self.limits.adapt_steps, self.limits.adapt_seconds)
            adapted = personalise(self.model, [o for o, _ in style.lines], [t for _, t in style.lines], settings)
        finally:
            self._adapting.release()
        with self._lock:
            if style_id in self.uploads:
                self.uploads[style_id] = dataclasses.replace(style, model=adapted.model, label=f"{style.label}, personalised")
        return {"id": style_id, **adapted.describe()}

    # --- admission -------------------------------------------------------------------------------
    def admit(self) -> None:
        """Count a new request in, or refuse it (429) when the slots and the queue are full."""
        with self._lock:
            if self.counters.running + self.counters.waiting >= self.limits.max_concurrent + self.limits.max_queue:
                self.counters.refused += 1
                raise RequestError(
                    429, f"the server is busy ({self.counters.running} writing, {self.counters.waiting} waiting): try again in a moment",
                )
            self.counters.waiting += 1

    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # created inside the running event loop
            self._slots = asyncio.Semaphore(self.limits.max_concurrent)
        return self._slots

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.counters.__dict__)

    def new_job(self, request: WriteRequest) -> Job:
        job = Job(secrets.token_urlsafe(9), request)
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > self.limits.max_jobs:
                self.jobs.popitem(last=False)
        return job

    def job(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None or not job.offsets:
            raise RequestError(404, "no such result (it expired or was never written): press Write again")
        return job

    # --- writing (worker thread) -----------------------------------------------------------------
    def max_points(self, text: str) -> int:
        return int(self.limits.max_points_per_char * len(text)) + 100

    def run_job(self, job: Job, emit: Callable[[str, dict[str, Any]], None]) -> None:
        """Write the job's lines one after the other; `emit(event, data)` for every step and line.

        Runs in a worker thread holding a slot. Stops early (and says so) when `job.cancel` is set.
        """
        req = job.request
        style = self.style_for(req.style)
        prime = (style.offsets, style.text) if style is not None else None
        model = style.model if style is not None and style.model is not None else self.model
        started = time.perf_counter()
        for row, text in enumerate(req.lines):
            if job.cancel.is_set():
                break
            emit("line", {"line": row, "text": text})

            buffer: list[list[float]] = []
            flushed = [0.0]  # so the line's first point goes out at once (time to first stroke)

            def flush(row: int = row) -> None:
                if buffer:
                    emit("points", {"line": row, "points": buffer[:]})
                    buffer.clear()
                flushed[0] = time.perf_counter()

            def on_step(step: int, points: torch.Tensor) -> bool:
                dx, dy, pen = points[0].tolist()  # raw units; NaN once the row has stopped
                if dx == dx and req.best_of == 1:  # best-of-N: the chosen candidate goes out whole
                    job.steps += 1
                    buffer.append([dx, dy, float(pen > 0.5)])
                    # batches FLUSH_S apart: waking the event loop on every step costs the sampler the GIL
                    if time.perf_counter() - flushed[0] >= FLUSH_S:
                        flush()
                return not job.cancel.is_set()

            samples = self.family.write(
                model, [text], bias=req.bias, style=prime, max_points=self.max_points(text), seed=req.seed + row,
                on_step=on_step, best_of=req.best_of, reader=self.reader,
            )
            if req.best_of > 1:
                buffer.extend([dx, dy, float(pen > 0.5)] for dx, dy, pen in samples.offsets[0][1:].tolist())
                job.steps += len(buffer)
            flush()
            with self._lock:
                self.counters.steps += len(samples.offsets[0]) - 1
            if job.cancel.is_set():
                break
            job.offsets.append(samples.offsets[0])
            job.phis.append(samples.phis[0])
            job.texts.append(text)
            emit("line_end", {
                "line": row, "ended": bool(samples.ended[0]), "points": len(samples.offsets[0]) - 1,
                "seconds": round(time.perf_counter() - started, 3),
            })

    def finish(self, job: Job, outcome: str) -> None:
        """Book-keeping once the worker thread is done (outcome: completed, cancelled or failed)."""
        with self._lock:
            self.counters.running -= 1
            setattr(self.counters, outcome, getattr(self.counters, outcome) + 1)
            if outcome != "completed":
                self.jobs.pop(job.id, None)

    def started(self) -> None:
        with self._lock:
            self.counters.waiting -= 1
            self.counters.running += 1
            self.counters.peak_running = max(self.counters.peak_running, self.counters.running)

    def left_queue(self) -> None:
        with self._lock:
            self.counters.waiting -= 1

    # --- renderings of a finished job --------------------------------------------------------------
    def render(self, job: Job, kind: str, stroke_width: float) -> bytes:
        """SVG (one polyline per pen stroke) or PNG of every written line, or the alignment plot of a line."""
        from seqgen.render.strokes import render_png, render_svg

        with tempfile.TemporaryDirectory(prefix="seqgen-serve-") as folder:
            path = Path(folder) / f"handwriting.{kind}"
            if kind == "svg":
                render_svg(job.offsets, path, stroke_width=stroke_width)
            else:
                render_png(job.offsets, path, linewidth=stroke_width)
            return path.read_bytes()

    def render_alignment(self, job: Job, line: int) -> bytes:
        from seqgen.render.plots import alignment_plot

        if not 0 <= line < len(job.texts) or job.phis[line] is None or not len(job.phis[line]):
            raise RequestError(404, f"no alignment for line {line + 1}")
        with tempfile.TemporaryDirectory(prefix="seqgen-serve-") as folder:
            path = alignment_plot(job.phis[line], job.texts[line], Path(folder) / "alignment.png",
                                  title=f"Window weights: {job.texts[line]!r}")
            return Path(path).read_bytes()
