"""Web demo (`seqgen-serve`) on CPU: time to first stroke, to a finished 40-character line, lines/s
with 8 concurrent clients next to 1 client, and the server's memory with one model loaded.

    .venv/bin/python benchmarks/demo.py --ckpt outputs/demo/run            (after `make demo-model`)
    .venv/bin/python benchmarks/demo.py --ckpt outputs/demo/run --screenshot docs/images/demo.png

Latency and throughput are measured over HTTP against a real uvicorn on 127.0.0.1 (in a thread of
this process, one torch thread, as `seqgen-serve` runs); memory is the resident set of a separate
`seqgen-serve` process after it has written one line, next to a bare `python -c "import torch,
starlette, uvicorn"` for scale. `--screenshot` also drives the page in Debian's chromium
(Playwright) and saves the screenshot used in docs/demo.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LINE_40 = "the quick brown fox jumps over a lazy dog"[:40]
SHORT = "hello world"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def one_line(url: str, text: str, seed: int) -> dict[str, float]:
    """POST /api/write and read the stream: seconds to the first point and to the line's end."""
    start = time.perf_counter()
    first = None
    points = 0
    with httpx.Client(timeout=600) as client, client.stream("POST", f"{url}/api/write", json={"text": text, "seed": seed, "bias": 0.5}) as res:
        res.raise_for_status()
        event = ""
        for line in res.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "points":
                first = first or time.perf_counter() - start
            elif line.startswith("data: ") and event == "line_end":
                points = json.loads(line[6:])["points"]
            elif event == "error":
                raise SystemExit(f"the server failed: {line}")
    return {"first": first or float("nan"), "total": time.perf_counter() - start, "points": points}


def throughput(url: str, clients: int, lines_each: int, text: str) -> float:
    """Lines per second with `clients` clients each writing `lines_each` lines one after the other."""
    def client(k: int) -> None:
        for i in range(lines_each):
            one_line(url, text, seed=1000 * k + i)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return clients * lines_each / (time.perf_counter() - start)


def direct_lines_per_s(model: Any, lines: int) -> float:
    """The same lines sampled in-process, without HTTP or streaming: the server's overhead baseline."""
    from seqgen.core.family import get_family

    family = get_family("handwriting")
    start = time.perf_counter()
    for i in range(lines):
        family.write(model, [SHORT], bias=0.5, seed=i, max_points=90 * len(SHORT) + 100)
    return lines / (time.perf_counter() - start)


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def server_memory(ckpt: str) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    bare = subprocess.run(
        [sys.executable, "-c", "import torch, starlette, uvicorn, pathlib; print(pathlib.Path('/proc/self/status').read_text())"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    bare_rss = next(int(l.split()[1]) for l in bare.splitlines() if l.startswith("VmRSS")) / 1024
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqgen.cli.serve", f"ckpt={ckpt}", "port=0", "log_level=info", "hydra.run.dir=/tmp/seqgen-bench-serve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("seqgen-serve exited before serving")
            if "Uvicorn running on" in line:
                url = line.split("Uvicorn running on ", 1)[1].split()[0]
        one_line(url, LINE_40, 0)
        rss, peak = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"bare": bare_rss, "rss": rss, "peak": peak}


def screenshot(url: str, path: Path, style: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 860})
        page.set_default_timeout(300_000)
        page.goto(url)
        page.wait_for_selector("body[data-state=idle]")
        page.fill("#text", "hello world\nGenerating sequences\nwith recurrent networks")
        page.select_option("#style", style)
        for slider, value in (("#bias", "1"), ("#speed", "100")):
            page.eval_on_selector(slider, "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", value)
        page.click("#write")
        page.wait_for_selector("body[data-state=done]")
        page.click("#align")
        page.wait_for_function("document.getElementById('align-img').complete && document.getElementById('align-img').naturalWidth > 0")
        path.parent.mkdir(parents=True, exist_ok=True)
        from seqgen.io import atomic_path

        with atomic_path(path) as tmp:
            page.screenshot(path=str(tmp), full_page=True)
        browser.close()
    print(f"wrote {path}")


def measure(url: str, engine: Any, slots: int, args: argparse.Namespace, rows: list[tuple[str, str, float, float]]) -> None:
    """Latency (first run only) and lines/s of 1 and 8 clients against the server at `url`."""
    if not rows:
        one_line(url, SHORT, 0)  # warm-up
        lat = [one_line(url, LINE_40, seed) for seed in range(args.repeats)]
        first = statistics.median(l["first"] for l in lat)
        total = statistics.median(l["total"] for l in lat)
        points = statistics.median(l["points"] for l in lat)
        print(f"40-character line ({LINE_40!r}): first stroke after {first * 1000:.0f} ms, "
              f"finished after {total:.2f} s ({points:.0f} points, {points / total:.0f} points/s), median of {args.repeats}")
        from seqgen.core.family import get_family

        start = time.perf_counter()
        for seed in range(args.repeats):
            get_family("handwriting").write(engine.model, [LINE_40], bias=0.5, seed=seed, max_points=engine.max_points(LINE_40))
        alone = (time.perf_counter() - start) / args.repeats
        print(f"  the same lines without the server (in-process `write`): {alone:.2f} s per line (server / in-process {total / alone:.2f}x)")
        rows.append(("1 client", str(slots), throughput(url, 1, args.lines_each, SHORT), 1.0))
        direct = direct_lines_per_s(engine.model, args.lines_each)
        rows.append(("no server: `write` in this process", "-", direct, direct / rows[0][2]))
        if args.screenshot is not None:
            screenshot(url, args.screenshot, args.style)
    eight = throughput(url, 8, args.lines_each, SHORT)
    rows.append(("8 clients", str(slots), eight, eight / rows[0][2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default=str(REPO / "outputs" / "demo" / "run"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lines-each", type=int, default=2, help="lines per client in the throughput runs")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--style", default="none", help="style picked for the screenshot (a style id of the page)")
    parser.add_argument("--screenshot-only", action="store_true", help="take the screenshot, measure nothing")
    args = parser.parse_args()

    from seqgen.serve.app import create_app, serving_in_thread
    from seqgen.serve.engine import Engine, Limits
    from seqgen.core.checkpoints import load_model

    torch.set_num_threads(1)
    model = load_model(args.ckpt, family="handwriting")
    print(f"# demo benchmark: {args.ckpt}, torch {torch.__version__}, 1 torch thread, {os.cpu_count()} CPUs")
    if args.screenshot_only:
        with serving_in_thread(create_app(Engine(model, Limits()))) as url:
            screenshot(url, args.screenshot or REPO / "docs" / "images" / "demo.png", args.style)
        return
    rows: list[tuple[str, str, float, float]] = []
    for slots in (2, 8):  # the default max_concurrent, and one slot per client
        engine = Engine(model, Limits(max_concurrent=slots, max_queue=16))
        with serving_in_thread(create_app(engine)) as url:
            measure(url, engine, slots, args, rows)
    print(f"\n| clients | max_concurrent | lines/s ({SHORT!r}) | vs 1 client |\n|---|---|---|---|")
    for name, slots_s, rate, ratio in rows:
        print(f"| {name} | {slots_s} | {rate:.2f} | {ratio:.2f}x |")
    mem = server_memory(args.ckpt)
    params = sum(p.numel() for p in model.parameters())
    print(f"\nserver memory after one line: RSS {mem['rss']:.0f} MB (peak {mem['peak']:.0f} MB); bare python + torch + "
          f"starlette + uvicorn: {mem['bare']:.0f} MB; model: {params:,} parameters ({params * 4 / 2**20:.1f} MB float32)")


if __name__ == "__main__":
    main()
