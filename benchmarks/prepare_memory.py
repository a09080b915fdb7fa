"""Peak memory and speed of `prepare` as the corpus grows: streamed vs the former in-memory code.

    python benchmarks/prepare_memory.py                       # text: 30 MB and 300 MB (streamed), 30 MB in-memory
    python benchmarks/prepare_memory.py --sizes 30 300 1000   # add 1 GB (a few minutes on 2 cores)
    python benchmarks/prepare_memory.py --legacy-sizes 30 100 # the in-memory code too (needs ~32x the corpus in RAM)
    python benchmarks/prepare_memory.py --family handwriting  # Hershey lines: 3k, 10k, 30k streamed; 3k, 30k in-memory
    python benchmarks/prepare_memory.py --family handwriting --lines 3000 30000 100000 --legacy-lines 3000
    python benchmarks/prepare_memory.py --family image        # MNIST-size IDX (gz) and binarized MNIST .amat
    python benchmarks/prepare_memory.py --family speech       # espeak corpus, 300 and 1200 utterances, heap released or not

Handwriting: the default corpus (`data=handwriting_hershey`: 200 Hershey writers, 8-32 characters,
one script font) at growing `n_lines`; MB/s counts the shards written (normalised pen offsets,
character ids, texts). Most of the time is rendering the lines, the same for both implementations;
the in-memory code holds every line's points (~7 KB per line), the streamed one ~0.1 KB per line.
Both write byte-identical shards (tests/families/handwriting/test_prepare_streamed.py).

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


def child_handwriting(impl: str, n_lines: str, out_dir: str) -> None:
    sys.path.insert(0, str(REPO / "tests" / "families" / "handwriting"))
    from seqgen.families.handwriting.prepare import HersheyCorpus, prepare_handwriting

    if impl == "in-memory":
        from legacy_handwriting_prepare import prepare_handwriting_in_memory as run
    else:
        run = prepare_handwriting
    n = int(n_lines)
    # conf/data/handwriting_hershey.yaml; above ~55k lines the default 1.5 MB of text runs out of lines
    corpus = HersheyCorpus(n_lines=n, n_writers=200, min_chars=8, max_chars=32, fonts=["scripts"], text_max_bytes=max(1_500_000, 30 * n))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    summary = run(corpus, out_dir)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shard_mb = sum(s["bytes"] for split in json.loads((Path(out_dir) / "manifest.json").read_text())["splits"].values() for s in split) / MB
    lines = sum(s["lines"] for s in summary["splits"].values())
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "shard_mb": shard_mb, "kept": lines}))


def make_images(work: Path, kind: str, n: int) -> Path:
    """Synthetic 28x28 MNIST-like images: `n` training images (+ n/6 test for IDX, n/5 valid and test for .amat)."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from seqgen.families.image.corpora import write_idx

    rng = np.random.default_rng(0)
    folder = work / f"{kind}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    block = (rng.random((1000, 28, 28)) ** 4 * 256).astype(np.uint8)  # mostly dark, like digits
    for split, count in ({"train": n, "test": n // 6} if kind == "idx" else {"train": n, "valid": n // 5, "test": n // 5}).items():
        images = np.resize(block, (count, 28, 28))
        if kind == "idx":
            write_idx(folder / f"{split}-images.gz", images)
            write_idx(folder / f"{split}-labels.gz", np.arange(count) % 10)
        else:
            with open(folder / f"binarized_mnist_{split}.amat", "w") as handle:
                for image in images >= 128:
                    handle.write(" ".join("1" if v else "0" for v in image.reshape(-1)) + "\n")
    return folder


def child_image(kind: str, folder: str, out_dir: str) -> None:
    from seqgen.families.image.corpora import AmatCorpus, IdxCorpus
    from seqgen.families.image.prepare import prepare_images

    root = Path(folder)
    if kind == "idx":
        corpus = IdxCorpus(str(root / "train-images.gz"), str(root / "test-images.gz"), str(root / "train-labels.gz"), str(root / "test-labels.gz"))
    else:
        corpus = AmatCorpus(str(root))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    summary = prepare_images(corpus, out_dir, mode="binary")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    images = sum(s["images"] for s in summary["splits"].values())
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "images": images}))


def image(sizes: list[int], work: Path) -> None:
    print(f"image prepare (mode=binary), synthetic 28x28 images; {os.cpu_count()} CPUs; scratch {work}")
    print(f"{'corpus':>8} {'train images':>13} {'all images':>11} {'pixels':>8} {'peak RSS':>10} {'prepare adds':>13} {'images/s':>9} {'MB/s':>6}")
    for kind in ("idx", "amat"):
        for n in sizes:
            # made in a process of its own: a child's ru_maxrss starts at its parent's peak (Linux keeps it across exec)
            folder = work / f"{kind}-{n}"
            subprocess.run([sys.executable, __file__, "--make-images", kind, str(n), str(work)], check=True)
            r = measure(kind, folder, work)
            added = r["peak_mb"] - r["baseline_mb"]
            pixels = r["images"] * 784 / MB
            print(f"{kind:>8} {n:>13} {r['images']:>11} {pixels:>6.0f}MB {r['peak_mb']:>8.0f}MB {added:>11.0f}MB"
                  f" {r['images'] / r['seconds']:>9.0f} {pixels / r['seconds']:>6.1f}", flush=True)
            subprocess.run(["rm", "-rf", str(folder)], check=True)


def child_speech(impl: str, n: int, out_dir: str) -> None:
    from omegaconf import OmegaConf

    from seqgen.families.speech import prepare as speech_prepare
    from seqgen.families.speech.espeak import EspeakCorpus

    if impl == "heap-kept":
        speech_prepare.TRIM_EVERY = 1 << 60  # the code before `release_free_memory`
    features = OmegaConf.to_container(OmegaConf.load(REPO / "seqgen" / "_config" / "conf" / "data" / "_speech_defaults.yaml").features)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    summary = speech_prepare.prepare_speech(EspeakCorpus(n_utterances=n), out_dir, features=features)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "minutes": summary["minutes_of_audio"]}))


def speech(sizes: list[int], work: Path) -> None:
    print(f"speech prepare, data=speech_espeak (22.05 kHz audio resampled to 16 kHz); {os.cpu_count()} CPUs; scratch {work}")
    print(f"{'utterances':>10} {'heap':>10} {'audio':>9} {'peak RSS':>10} {'prepare adds':>13} {'audio min/s':>12}")
    for n in sizes:
        for impl in ("released", "heap-kept"):
            r = measure(impl, n, work)
            print(f"{n:>10} {impl:>10} {r['minutes']:>6.1f}min {r['peak_mb']:>8.0f}MB {r['peak_mb'] - r['baseline_mb']:>11.0f}MB {r['minutes'] / r['seconds']:>12.2f}", flush=True)


def child(impl: str, corpus_path: str, out_dir: str) -> None:
    if impl in ("released", "heap-kept"):
        child_speech(impl, int(corpus_path), out_dir)
        return
    if impl in ("idx", "amat"):
        child_image(impl, corpus_path, out_dir)
        return
    if corpus_path.isdigit():
        child_handwriting(impl, corpus_path, out_dir)
        return
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


def measure(impl: str, corpus: Path | int, work: Path) -> dict[str, float]:
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
    parser.add_argument("--family", choices=["text", "handwriting", "image", "speech"], default="text")
    parser.add_argument("--utterances", type=int, nargs="+", default=[300, 1200], help="speech: espeak corpus sizes")
    parser.add_argument("--images", type=int, nargs="+", default=[10000, 50000], help="image: training images per corpus")
    parser.add_argument("--lines", type=int, nargs="+", default=[3000, 10000, 30000], help="handwriting: corpus sizes in lines (streamed)")
    parser.add_argument("--legacy-lines", type=int, nargs="*", default=[3000, 30000], help="handwriting: sizes for the in-memory prepare")
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 300], help="corpus sizes in MB (streamed prepare)")
    parser.add_argument("--legacy-sizes", type=int, nargs="*", default=[30], help="sizes for the former in-memory prepare")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--make-images", nargs=3, metavar=("KIND", "N", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_images:
        make_images(Path(args.make_images[2]), args.make_images[0], int(args.make_images[1]))
        return
    if args.child:
        child(*args.child)
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="prepare-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.family == "handwriting":
        handwriting(args.lines, args.legacy_lines, work)
        return
    if args.family == "image":
        image(args.images, work)
        return
    if args.family == "speech":
        speech(args.utterances, work)
        return
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


def handwriting(sizes: list[int], legacy: list[int], work: Path) -> None:
    print(f"handwriting prepare, data=handwriting_hershey at growing n_lines; {os.cpu_count()} CPUs; scratch {work}")
    print(f"{'lines':>8} {'implementation':>15} {'shards':>9} {'peak RSS':>10} {'prepare adds':>13} {'lines/s':>8} {'MB/s':>6}")
    rows = []
    for n in sorted(set(sizes) | set(legacy)):
        for impl in ("streamed", "in-memory"):
            if n not in (sizes if impl == "streamed" else legacy):
                continue
            r = measure(impl, n, work)
            added = r["peak_mb"] - r["baseline_mb"]
            rows.append({"lines": n, "impl": impl, **r})
            print(f"{n:>8} {impl:>15} {r['shard_mb']:>7.0f}MB {r['peak_mb']:>8.0f}MB {added:>11.0f}MB"
                  f" {n / r['seconds']:>8.0f} {r['shard_mb'] / r['seconds']:>6.2f}", flush=True)
    for n in sorted(set(sizes) & set(legacy)):
        new = next(r for r in rows if r["lines"] == n and r["impl"] == "streamed")
        old = next(r for r in rows if r["lines"] == n and r["impl"] == "in-memory")
        print(f"{n} lines: prepare adds {old['peak_mb'] - old['baseline_mb']:.0f} MB in-memory vs {new['peak_mb'] - new['baseline_mb']:.0f} MB streamed; "
              f"peak RSS {old['peak_mb']:.0f} vs {new['peak_mb']:.0f} MB; speed streamed / in-memory = {old['seconds'] / new['seconds']:.2f}x")
    for impl in ("streamed", "in-memory"):
        done = [r for r in rows if r["impl"] == impl]
        if len(done) > 1:
            a, b = done[0], done[-1]
            growth = (b["peak_mb"] - a["peak_mb"]) * 1024 * 1024 / (b["lines"] - a["lines"])
            print(f"{impl}: peak RSS {a['peak_mb']:.0f} MB at {a['lines']} lines -> {b['peak_mb']:.0f} MB at {b['lines']} lines ({growth:.0f} bytes per extra line)")


if __name__ == "__main__":
    main()
