"""Peak memory and speed of text `prepare` as the corpus grows: streamed vs the former in-memory code.

    python benchmarks/prepare_memory.py                       # 30 MB and 300 MB (streamed), 30 MB in-memory
    python benchmarks/prepare_memory.py --sizes 30 300 1000   # add 1 GB (a few minutes on 2 cores)
    python benchmarks/prepare_memory.py --legacy-sizes 30 100 # the in-memory code too (needs ~32x the corpus in RAM)

Each measurement runs in its own process on a synthetic UTF-8 text (seeded random words with a
few non-ASCII characters; char vocabulary, the `data=text_file` defaults) and reports that
process's peak resident memory (ru_maxrss), the part added by prepare (peak minus the RSS after
imports) and the throughput in MB/s of corpus. Both implementations write byte-identical shards
(tests/core/test_hardening_prepare.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000


def make_corpus(path: Path, size_mb: int, seed: int = 0) -> None:
    """`size_mb` MB of text: 16 distinct 1 MB blocks of random words, cycled (cheap to write)."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9))) for _ in range(5000)]
    words += ["café", "naïve", "Straße", "東京", "—", "«", "»"]
    blocks = []
    for _ in range(16):
        parts, size = [], 0
        while size < MB:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(5, 15))).capitalize() + ".\n"
            parts.append(line)
            size += len(line.encode())
        blocks.append("".join(parts).encode()[:MB].decode("utf-8", "ignore").encode())
    with open(path, "wb") as handle:
        for index in range(size_mb):
            handle.write(blocks[index % len(blocks)])


def child(impl: str, corpus_path: str, out_dir: str) -> None:
    sys.path.insert(0, str(REPO / "tests" / "core"))
    from seqgen.data.text.corpora import PlainTextCorpus
    from seqgen.families.text.prepare import prepare_text

    if impl == "in-memory":
        from legacy_text_prepare import prepare_text_in_memory as run
    else:
        run = prepare_text
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    run(PlainTextCorpus(corpus_path), out_dir, vocab="char")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline}))


def measure(impl: str, corpus: Path, work: Path) -> dict[str, float]:
    out = work / f"shards-{impl}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", impl, str(corpus), str(out)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"{impl} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 300], help="corpus sizes in MB (streamed prepare)")
    parser.add_argument("--legacy-sizes", type=int, nargs="*", default=[30], help="sizes for the former in-memory prepare")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="prepare-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"text prepare, char vocabulary, synthetic UTF-8 text; {os.cpu_count()} CPUs; scratch {work}")
    print(f"{'size':>8} {'implementation':>15} {'peak RSS':>10} {'prepare adds':>13} {'RSS/corpus':>11} {'MB/s':>7}")
    rows = []
    for size in sorted(set(args.sizes) | set(args.legacy_sizes)):
        corpus = work / f"corpus-{size}mb.txt"
        make_corpus(corpus, size)
        for impl in ("streamed", "in-memory"):
            if (impl == "streamed" and size not in args.sizes) or (impl == "in-memory" and size not in args.legacy_sizes):
                continue
            r = measure(impl, corpus, work)
            added = r["peak_mb"] - r["baseline_mb"]
            rows.append({"size_mb": size, "impl": impl, **r})
            print(f"{size:>6}MB {impl:>15} {r['peak_mb']:>8.0f}MB {added:>11.0f}MB {r['peak_mb'] / size:>10.2f}x {size / r['seconds']:>7.1f}", flush=True)
        corpus.unlink()
    for size in sorted(set(args.sizes) & set(args.legacy_sizes)):
        new = next(r for r in rows if r["size_mb"] == size and r["impl"] == "streamed")
        old = next(r for r in rows if r["size_mb"] == size and r["impl"] == "in-memory")
        print(f"{size} MB: in-memory / streamed peak RSS = {old['peak_mb'] / new['peak_mb']:.1f}x, speed streamed / in-memory = {old['seconds'] / new['seconds']:.2f}x")
    streamed = [r for r in rows if r["impl"] == "streamed"]
    if len(streamed) > 1:
        print(f"streamed peak RSS from {streamed[0]['size_mb']} MB to {streamed[-1]['size_mb']} MB: "
              f"{streamed[0]['peak_mb']:.0f} -> {streamed[-1]['peak_mb']:.0f} MB (flat: < 1 GB whatever the size)")


if __name__ == "__main__":
    main()
