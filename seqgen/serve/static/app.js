// seqgen handwriting demo: no build step, no dependencies. The server streams raw-unit offsets
// (dx, dy, pen_up) per line as server-sent events over a fetch() stream; this file animates them.
"use strict";

const $ = (id) => document.getElementById(id);
const BAND = 120;     // canvas pixels per written line
const MARGIN = 16;
const state = {
  info: null, vocab: new Set(), lines: [], job: null, controller: null, drawing: 0, streamDone: false,
};
// what the tests (and curious users) can read: line boxes in canvas pixels, lines finished
window.seqgenDemo = { boxes: [], linesDone: 0, state };

function setState(name) { document.body.dataset.state = name; }

function say(text, kind = "info") {
  const m = $("message");
  m.textContent = text;
  m.className = text ? kind : "";
}

async function api(path, body) {
  const res = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw Object.assign(new Error(data.error || `HTTP ${res.status}`), { data, status: res.status });
  return data;
}

// ---------------------------------------------------------------- unknown characters, marked live
function markUnknown() {
  const text = $("text").value;
  const out = $("marked");
  out.textContent = "";
  const bad = new Set();
  for (const ch of text) {
    if (ch === "\n") { out.appendChild(document.createTextNode("\n")); continue; }
    if (state.vocab.has(ch)) { out.appendChild(document.createTextNode(ch)); continue; }
    const m = document.createElement("mark");
    m.textContent = ch === " " ? "\u2423" : ch;
    m.title = "the model cannot write this character";
    out.appendChild(m);
    bad.add(ch);
  }
  out.hidden = bad.size === 0;
  return [...bad];
}

// ---------------------------------------------------------------- drawing the sheet
function lineGeometry(line) {
  // absolute strokes (y up) from offsets; a point with pen_up = 1 ends its stroke
  const strokes = [];
  let x = 0, y = 0, cur = [];
  const n = line.shown;
  for (let i = 0; i < n; i++) {
    const [dx, dy, up] = line.points[i];
    x += dx; y += dy;
    cur.push([x, y]);
    if (up > 0.5) { strokes.push(cur); cur = []; }
  }
  if (cur.length) strokes.push(cur);
  return strokes;
}

// Centripetal Catmull-Rom through the points as cubic Béziers (seqgen/render/curves.py does the
// same for SVG/PNG/PDF); widthOf(i) gives segment i's width, or null for one constant width.
function smoothStroke(ctx, pts, widthOf) {
  const n = pts.length;
  if (n === 1) { ctx.beginPath(); ctx.moveTo(pts[0][0], pts[0][1]); ctx.lineTo(pts[0][0] + 0.01, pts[0][1]); ctx.stroke(); return; }
  const at = (i) => (i < 0 ? [2 * pts[0][0] - pts[1][0], 2 * pts[0][1] - pts[1][1]]
    : i >= n ? [2 * pts[n - 1][0] - pts[n - 2][0], 2 * pts[n - 1][1] - pts[n - 2][1]] : pts[i]);
  const dist = (a, b) => Math.sqrt(Math.hypot(b[0] - a[0], b[1] - a[1]));
  if (!widthOf) { ctx.beginPath(); ctx.moveTo(pts[0][0], pts[0][1]); }
  for (let i = 0; i < n - 1; i++) {
    const p0 = at(i - 1), p1 = at(i), p2 = at(i + 1), p3 = at(i + 2);
    const d1 = dist(p0, p1), d2 = dist(p1, p2), d3 = dist(p2, p3);
    let b1, b2;
    if (d1 < 1e-3 || d2 < 1e-3 || d3 < 1e-3) {
      b1 = [p1[0] + (p2[0] - p1[0]) / 3, p1[1] + (p2[1] - p1[1]) / 3];
      b2 = [p1[0] + 2 * (p2[0] - p1[0]) / 3, p1[1] + 2 * (p2[1] - p1[1]) / 3];
    } else {
      const c1 = 2 * d1 * d1 + 3 * d1 * d2 + d2 * d2, c2 = 2 * d3 * d3 + 3 * d3 * d2 + d2 * d2;
      b1 = [0, 1].map((k) => (d1 * d1 * p2[k] - d2 * d2 * p0[k] + c1 * p1[k]) / (3 * d1 * (d1 + d2)));
      b2 = [0, 1].map((k) => (d3 * d3 * p1[k] - d2 * d2 * p3[k] + c2 * p2[k]) / (3 * d3 * (d3 + d2)));
    }
    if (widthOf) { ctx.beginPath(); ctx.moveTo(p1[0], p1[1]); ctx.lineWidth = widthOf(i); }
    ctx.bezierCurveTo(b1[0], b1[1], b2[0], b2[1], p2[0], p2[1]);
    if (widthOf) ctx.stroke();
  }
  if (!widthOf) ctx.stroke();
}

// segment widths from pen speed: slow is thicker (as seqgen/render/curves.py speed_widths)
function speedWidths(pts, base, median) {
  return (i) => {
    const speed = Math.max(Math.hypot(pts[i + 1][0] - pts[i][0], pts[i + 1][1] - pts[i][1]), 1e-9);
    return base * Math.min(2.5, Math.max(1 / 2.5, median / speed));
  };
}

function medianStep(strokes) {
  const steps = [];
  for (const s of strokes) for (let i = 1; i < s.length; i++) steps.push(Math.hypot(s[i][0] - s[i - 1][0], s[i][1] - s[i - 1][1]));
  steps.sort((a, b) => a - b);
  return steps.length ? steps[steps.length >> 1] : 1;
}

function inkStyle(ctx, width) {
  const ink = state.page ? $("ink").value : "#111";
  ctx.strokeStyle = ink;
  ctx.fillStyle = ink;
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
}

// while a page's lines stream: each line at its baseline, at the pen's expected scale
function drawPageLine(ctx, row) {
  const line = state.lines[row], page = state.page;
  const px = ctx.canvas.width / page.width_mm;
  const box = window.seqgenDemo.boxes[row];
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, box.y, ctx.canvas.width, box.height);
  const strokes = lineGeometry(line);
  if (!strokes.length) return;
  const scale = (page.mm_per_unit || 4 / state.info.median_step / px) * px;
  const base = page.baselines[row] * px, left = page.left_mm * px;
  inkStyle(ctx, Math.max(page.stroke_mm * px, 1));
  for (const s of strokes) smoothStroke(ctx, s.map(([x, y]) => [left + x * scale, base - y * scale]), null);
}

// the finished page exactly as the downloads have it (GET /api/jobs/<id>/page.json)
function drawPage(data) {
  const c = $("sheet"), ctx = c.getContext("2d");
  const px = c.width / data.width_mm;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, c.width, c.height);
  const base = Math.max(data.stroke_mm * px, 1);
  const all = data.lines.flat().map((s) => s.map(([x, y]) => [x * px, y * px]));
  const median = medianStep(all);
  inkStyle(ctx, base);
  for (const s of all) smoothStroke(ctx, s, $("speed-width").checked && s.length > 1 ? speedWidths(s, base, median) : null);
  window.seqgenDemo.boxes = data.boxes.map(([top, bottom]) => ({ x: 0, y: Math.floor(top * px), width: c.width, height: Math.ceil((bottom - top) * px) + 1 }));
  window.seqgenDemo.page = { lines: data.lines.length, width_mm: data.width_mm, height_mm: data.height_mm };
  state.pageData = data;
}

function drawLine(ctx, row) {
  if (state.page) { drawPageLine(ctx, row); return; }
  const line = state.lines[row];
  const top = MARGIN + row * BAND;
  const W = ctx.canvas.width;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, top, W, BAND);
  const strokes = lineGeometry(line);
  if (!strokes.length) return;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of strokes) for (const [x, y] of s) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  // a fixed pen scale (a median pen step of 4 px) shrunk only when the line would not fit its box
  let scale = 4.0 / state.info.median_step;
  scale = Math.min(scale, (W - 2 * MARGIN) / Math.max(x1 - x0, 1e-6), (BAND - 12) / Math.max(y1 - y0, 1e-6));
  const cy = (y0 + y1) / 2;
  ctx.strokeStyle = "#111";
  ctx.fillStyle = "#111";
  ctx.lineWidth = parseFloat($("width").value);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) smoothStroke(ctx, s.map((p) => [MARGIN + (p[0] - x0) * scale, top + BAND / 2 - (p[1] - cy) * scale]), null);
}

function resizeSheet(n) {
  const c = $("sheet");
  if (state.page) {  // the sheet has the page's shape; a line's box spans its baseline's pitch
    const page = state.page, px = c.width / page.width_mm;
    c.height = Math.round(page.height_mm * px);
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    window.seqgenDemo.boxes = page.baselines.map((b) => ({
      x: 0, y: Math.floor((b - 2 * page.x_height_mm) * px), width: c.width, height: Math.ceil(3 * page.x_height_mm * px),
    }));
    return;
  }
  c.height = 2 * MARGIN + Math.max(n, 1) * BAND;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, c.width, c.height);
  window.seqgenDemo.boxes = Array.from({ length: n }, (_, row) => ({
    x: 0, y: MARGIN + row * BAND, width: c.width, height: BAND,
  }));
}

function animate() {
  const speed = parseInt($("speed").value, 10);
  const ctx = $("sheet").getContext("2d");
  let busy = false;
  // lines are drawn in order: the next one starts once the previous one is fully shown
  for (let row = 0; row < state.lines.length; row++) {
    const line = state.lines[row];
    if (line.shown < line.points.length) {
      line.shown = speed >= 100 ? line.points.length : Math.min(line.points.length, line.shown + speed);
      drawLine(ctx, row);
      busy = true;
      break;
    }
    if (!line.ended) { busy = true; break; }
    if (!line.counted) { line.counted = true; window.seqgenDemo.linesDone += 1; }
  }
  if (busy || !state.streamDone) { state.drawing = requestAnimationFrame(animate); return; }
  state.drawing = 0;
  finish();
}

function redrawAll() {
  if (state.pageData) { drawPage(state.pageData); return; }
  const ctx = $("sheet").getContext("2d");
  state.lines.forEach((_, row) => drawLine(ctx, row));
}

// ---------------------------------------------------------------- writing: the event stream
function handle(event, data) {
  if (event === "job") {
    state.job = data.id;
    state.page = data.page || null;
    state.lines = data.lines.map((text) => ({ text, points: [], shown: 0, ended: false, counted: false }));
    resizeSheet(data.lines.length);
    say(`writing ${data.lines.length} line${data.lines.length > 1 ? "s" : ""}…`);
  } else if (event === "points") {
    state.lines[data.line].points.push(...data.points);
  } else if (event === "line_end") {
    const line = state.lines[data.line];
    line.ended = true;
    $("progress").textContent = `line ${data.line + 1}: ${data.points} points in ${data.seconds} s` +
      (data.ended ? "" : " (stopped at the point limit)");
  } else if (event === "done") {
    state.streamDone = true;
  } else if (event === "error") {
    state.streamDone = true;
    throw new Error(data.error);
  }
}

async function write() {
  say("");
  $("align-img").hidden = true;
  const bad = markUnknown();
  if (bad.length && !$("drop").checked) {
    say(`The model cannot write ${bad.map((c) => JSON.stringify(c)).join(", ")} (marked above): remove them or tick "drop".`, "error");
    setState("error");
    return;
  }
  const body = {
    text: $("text").value, style: $("style").value, bias: parseFloat($("bias").value),
    seed: parseInt($("seed").value || "0", 10), unknown_chars: $("drop").checked ? "drop" : "error",
    best_of: parseInt($("best-of").value || "1", 10),
    layout: {
      width: `${$("page-width").value}${$("width-unit").value}`, align: $("text-align").value, page: $("page-size").value,
      ink: $("ink").value, speed_width: $("speed-width").checked ? 1 : 0,
    },
  };
  state.controller = new AbortController();
  state.streamDone = false;
  state.lines = [];
  state.pageData = null;
  window.seqgenDemo.linesDone = 0;
  setDownloads(false);
  $("write").disabled = true;
  $("stop").disabled = false;
  setState("writing");
  try {
    const res = await fetch("/api/write", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      signal: state.controller.signal,
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
      throw new Error(data.error || `HTTP ${res.status}`);
    }
    if (!state.drawing) state.drawing = requestAnimationFrame(animate);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message", data = "";
        for (const row of block.split("\n")) {
          if (row.startsWith("event: ")) event = row.slice(7);
          else if (row.startsWith("data: ")) data += row.slice(6);
        }
        if (data) handle(event, JSON.parse(data));
      }
    }
    if (!state.streamDone) throw new Error("the server closed the stream before the end");
  } catch (err) {
    cancelAnimationFrame(state.drawing);
    state.drawing = 0;
    state.streamDone = true;
    $("write").disabled = false;
    $("stop").disabled = true;
    if (err.name === "AbortError") { say("Stopped."); setState("stopped"); return; }
    say(err.message, "error");
    setState("error");
  }
}

async function finish() {
  $("write").disabled = false;
  $("stop").disabled = true;
  if (document.body.dataset.state !== "writing") return;
  if (state.page) {
    try {
      const res = await fetch(`/api/jobs/${state.job}/page.json`);
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
      drawPage(data);
    } catch (err) { say(err.message, "error"); setState("error"); return; }
  }
  setDownloads(true);
  say(`Done: ${state.lines.length} line${state.lines.length > 1 ? "s" : ""}.`);
  setState("done");
}

function setDownloads(on) {
  const width = $("width").value;
  for (const kind of ["svg", "png"]) {
    const a = $(kind);
    a.classList.toggle("disabled", !on);
    a.href = on ? `/api/jobs/${state.job}.${kind}?stroke_width=${width}` : "#";
  }
  for (const [id, file] of [["page-svg", "page.svg"], ["pdf", "page.pdf"], ["gcode", "page.gcode"], ["plotter-svg", "page-plotter.svg"]]) {
    const a = $(id);
    const ready = on && Boolean(state.page);
    a.classList.toggle("disabled", !ready);
    a.href = ready ? `/api/jobs/${state.job}/${file}` : "#";
  }
  const sel = $("align-line");
  sel.textContent = "";
  if (on) state.lines.forEach((l, i) => sel.add(new Option(`line ${i + 1}: ${l.text}`, String(i))));
  $("align").disabled = !on;
}

// ---------------------------------------------------------------- styles: upload and drawing pad
function addStyle(result) {
  const opt = new Option(`${result.label} (“${result.text}”)`, result.id);
  $("style").add(opt);
  $("style").value = result.id;
  $("personalise").disabled = false;
  say(`Style ready: ${result.points} points, “${result.text}”. Press Write (or Personalise first).`);
}

async function uploadFile() {
  const file = $("style-file").files[0];
  if (!file) { say("Choose a file first (IAM-OnDB XML, SVG or JSON).", "error"); return; }
  if (file.size > state.info.limits.max_upload_bytes) {
    say(`The file is ${file.size} bytes: at most ${state.info.limits.max_upload_bytes}.`, "error");
    return;
  }
  try {
    const content = await file.text();
    addStyle(await api("/api/styles", { filename: file.name, content, text: $("style-text").value || null }));
  } catch (err) { say(err.message, "error"); }
}

// Capture: the user writes the prompt sentence on the pad; every pointer sample is [x, y, t]
// (canvas pixels, y down, milliseconds). Lines are checked by the server as they are added.
const pad = { strokes: [], cur: null, lines: [], prompt: 0 };
function padPoint(ev) {
  const c = $("pad"), r = c.getBoundingClientRect();
  return [(ev.clientX - r.left) * c.width / r.width, (ev.clientY - r.top) * c.height / r.height, ev.timeStamp];
}
function padDraw() {
  const c = $("pad"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.strokeStyle = "#123"; ctx.lineWidth = 2; ctx.lineCap = "round"; ctx.lineJoin = "round";
  for (const s of pad.strokes) {
    ctx.beginPath(); ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s) ctx.lineTo(x, y);
    ctx.stroke();
  }
}
function nextPrompt() {
  const prompts = state.info.prompts;
  const text = prompts[pad.prompt % prompts.length];
  $("prompt").textContent = text;
  $("capture-text").value = text;
}
function showCaptured() {
  const n = pad.lines.length;
  $("capture-count").textContent = n ? `${n} line${n > 1 ? "s" : ""} captured` : "no lines yet";
  $("capture-save").disabled = n === 0;
}
async function addCaptured() {
  const line = { text: $("capture-text").value.trim(), strokes: pad.strokes };
  if (pad.lines.length >= state.info.limits.max_capture_lines) { say(`At most ${state.info.limits.max_capture_lines} lines.`, "error"); return false; }
  try { await api("/api/capture", { lines: [line] }); }  // checked on its own: the message names what is wrong
  catch (err) { say(err.message, "error"); return false; }
  pad.lines.push(line);
  pad.strokes = []; padDraw();
  pad.prompt += 1; nextPrompt(); showCaptured();
  say("Line added. Write the next prompt, or press Use my lines.");
  return true;
}
async function useCaptured() {
  if (pad.strokes.length && !(await addCaptured())) return;
  if (!pad.lines.length) { say("Write the prompt in the box, then press Add line.", "error"); return; }
  try { addStyle(await api("/api/capture", { lines: pad.lines })); }
  catch (err) { say(err.message, "error"); }
}
async function personalise() {
  const style = $("style").value;
  $("personalise").disabled = true;
  say("Personalising: a few steps of adaptation to your lines...");
  try {
    const r = await api("/api/personalise", { style });
    $("style").selectedOptions[0].textContent += " (personalised)";
    say(`Personalised: ${r.steps} steps in ${r.seconds.toFixed(1)} s, NLL per point ${r.nll_before.toFixed(2)} -> ${r.nll_after.toFixed(2)}. Press Write.`);
  } catch (err) { say(err.message, "error"); $("personalise").disabled = false; }
}
function saveCaptured() {
  // the first line also as {text, strokes}: the file is a style file for seqgen-sample style=<file>
  const first = pad.lines[0];
  const blob = new Blob([JSON.stringify({ text: first.text, strokes: first.strokes, y_axis: "down", lines: pad.lines })], { type: "application/json" });
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: "my-handwriting.json" });
  a.click();
  URL.revokeObjectURL(a.href);
}
async function loadCaptured() {
  const file = $("capture-load").files[0];
  if (!file) return;
  let data;
  try { data = JSON.parse(await file.text()); } catch (err) { say(`${file.name}: not a saved style (${err.message})`, "error"); return; }
  const lines = data && Array.isArray(data.lines) ? data.lines : (data && data.strokes ? [{ text: data.text || "", strokes: data.strokes }] : null);
  if (!lines) { say(`${file.name}: not a saved style (no "lines")`, "error"); return; }
  try { addStyle(await api("/api/capture", { lines })); pad.lines = lines; showCaptured(); }
  catch (err) { say(`${file.name}: ${err.message}`, "error"); }
  $("capture-load").value = "";
}
function setupPad() {
  const c = $("pad");
  c.addEventListener("pointerdown", (ev) => { c.setPointerCapture(ev.pointerId); pad.cur = [padPoint(ev)]; pad.strokes.push(pad.cur); padDraw(); });
  c.addEventListener("pointermove", (ev) => {
    if (!pad.cur) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];  // a pen's full rate
    for (const e of (events.length ? events : [ev])) pad.cur.push(padPoint(e));
    padDraw();
  });
  const end = () => { pad.cur = null; };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  $("pad-clear").addEventListener("click", () => { pad.strokes = []; padDraw(); });
  $("capture-add").addEventListener("click", addCaptured);
  $("capture-use").addEventListener("click", useCaptured);
  $("capture-save").addEventListener("click", saveCaptured);
  $("capture-load").addEventListener("change", loadCaptured);
  $("personalise").addEventListener("click", personalise);
  $("style").addEventListener("change", () => { $("personalise").disabled = !/^(upload|capture):/.test($("style").value); });
  nextPrompt();
}

// ---------------------------------------------------------------- start
async function init() {
  try {
    const res = await fetch("/api/info");
    state.info = await res.json();
  } catch (err) { say(`cannot reach the server: ${err.message}`, "error"); setState("error"); return; }
  state.vocab = new Set(state.info.vocab);
  const sel = $("style");
  for (const s of state.info.styles) sel.add(new Option(s.label, s.id));
  for (const n of [2, 4, 8]) if (n <= state.info.limits.max_best_of) $("best-of").add(new Option(String(n)));
  $("best-of").disabled = state.info.limits.max_best_of < 2;
  $("text").maxLength = state.info.limits.max_lines * (state.info.limits.max_chars + 1);
  for (const [id, out] of [["bias", "bias-value"], ["width", "width-value"], ["speed", "speed-value"]]) {
    $(id).addEventListener("input", () => { $(out).textContent = $(id).value; });
  }
  $("speed-width").addEventListener("change", redrawAll);
  $("ink").addEventListener("change", redrawAll);
  $("width").addEventListener("change", () => { redrawAll(); if (document.body.dataset.state === "done") setDownloads(true); });
  $("width-unit").addEventListener("change", () => {  // a sensible width in the new unit
    const mm = $("width-unit").value === "mm";
    Object.assign($("page-width"), mm ? { min: 10, max: 500, value: 120 } : { min: 4, max: state.info.limits.max_chars, value: 40 });
  });
  $("page-width").max = state.info.limits.max_chars;
  $("text").addEventListener("input", markUnknown);
  $("write").addEventListener("click", write);
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("upload").addEventListener("click", uploadFile);
  $("align").addEventListener("click", () => {
    const img = $("align-img");
    img.onerror = () => say("no alignment plot for this line", "error");
    img.src = `/api/jobs/${state.job}/alignment/${$("align-line").value}.png`;
    img.alt = "window weights over time";
    img.hidden = false;
  });
  setupPad();
  markUnknown();
  resizeSheet(1);
  setState("idle");
}
init();
