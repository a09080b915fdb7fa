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

function drawLine(ctx, row) {
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
  for (const s of strokes) {
    ctx.beginPath();
    const px = (p) => [MARGIN + (p[0] - x0) * scale, top + BAND / 2 - (p[1] - cy) * scale];
    const [sx, sy] = px(s[0]);
    ctx.moveTo(sx, sy);
    if (s.length === 1) ctx.lineTo(sx + 0.01, sy);
    for (let i = 1; i < s.length; i++) { const [qx, qy] = px(s[i]); ctx.lineTo(qx, qy); }
    ctx.stroke();
  }
}

function resizeSheet(n) {
  const c = $("sheet");
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
  const ctx = $("sheet").getContext("2d");
  state.lines.forEach((_, row) => drawLine(ctx, row));
}

// ---------------------------------------------------------------- writing: the event stream
function handle(event, data) {
  if (event === "job") {
    state.job = data.id;
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
  };
  state.controller = new AbortController();
  state.streamDone = false;
  state.lines = [];
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

function finish() {
  $("write").disabled = false;
  $("stop").disabled = true;
  if (document.body.dataset.state !== "writing") return;
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
  say(`Style ready: ${result.points} points, “${result.text}”. Press Write.`);
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

const pad = { strokes: [], cur: null };
function padPoint(ev) {
  const c = $("pad"), r = c.getBoundingClientRect();
  return [(ev.clientX - r.left) * c.width / r.width, (ev.clientY - r.top) * c.height / r.height];
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
function setupPad() {
  const c = $("pad");
  c.addEventListener("pointerdown", (ev) => { c.setPointerCapture(ev.pointerId); pad.cur = [padPoint(ev)]; pad.strokes.push(pad.cur); padDraw(); });
  c.addEventListener("pointermove", (ev) => { if (pad.cur) { pad.cur.push(padPoint(ev)); padDraw(); } });
  const end = () => { pad.cur = null; };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  $("pad-clear").addEventListener("click", () => { pad.strokes = []; padDraw(); });
  $("pad-use").addEventListener("click", async () => {
    if (!pad.strokes.length) { say("Write something on the pad first.", "error"); return; }
    const content = JSON.stringify({ text: $("style-text").value, strokes: pad.strokes, y_axis: "down" });
    try { addStyle(await api("/api/styles", { filename: "drawing.json", content, text: $("style-text").value || null })); }
    catch (err) { say(err.message, "error"); }
  });
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
  $("text").maxLength = state.info.limits.max_lines * (state.info.limits.max_chars + 1);
  for (const [id, out] of [["bias", "bias-value"], ["width", "width-value"], ["speed", "speed-value"]]) {
    $(id).addEventListener("input", () => { $(out).textContent = $(id).value; });
  }
  $("width").addEventListener("change", () => { redrawAll(); if (document.body.dataset.state === "done") setDownloads(true); });
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
