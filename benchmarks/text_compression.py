"""The text model as a compressor: round trips, throughput, and dynamic against static evaluation.

    python benchmarks/text_compression.py --ckpt outputs/train/runs/<run>
    python benchmarks/text_compression.py --ckpt <run> --skip-big          # no 10 MB round trip
    python benchmarks/text_compression.py --ckpt <run> --big-only          # only the 10 MB round trip
    python benchmarks/text_compression.py --ckpt <run> --texts FILE ...    # other unseen texts

Round trips (bit-identical or the script fails): an empty file, 1 byte, the run's test split, a
file with bytes outside the vocabulary, a 10 MB text (English from this machine's GNU manuals,
licenses and the embedded corpus, cycled), and the test split decoded again by `seqgen-decompress`
in a fresh process. Throughput is KiB of plain text per CPU second (`time.process_time`; the coder
runs on one thread), so it holds on a busy machine.

Dynamic against static: the test split and unseen English texts (default: the GPL-3 and GFDL-1.3
in /usr/share/common-licenses, on every Debian machine), the model's estimates and real `.sqz`
sizes next to zlib, bz2, xz, zstd and PPMd on the same bytes. The dynamic settings are the text
family's defaults (chosen on the validation split) unless given.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = ["/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/GFDL-1.3"]


def big_text(size: int) -> bytes:
    """`size` bytes of English found on this machine, cycled: GNU info manuals, licenses, CPython docstrings."""
    from seqgen.data.text.corpora import EmbeddedCorpus

    pieces = [gzip.open(path).read() for path in sorted(Path("/usr/share/info").glob("*.info*.gz"))]
    pieces += [path.read_bytes() for path in sorted(Path("/usr/share/common-licenses").glob("*")) if path.is_file()]
    pieces.append(EmbeddedCorpus(max_bytes=None).text())
    text = b"\n".join(pieces)
    return (text * (size // max(len(text), 1) + 1))[:size]


def round_trip(model, data: bytes, sha: bytes, name: str, settings) -> dict:
    from seqgen.families.text.codec import compress, decompress

    blob, packed = compress(model, data, settings, sha)
    out, unpacked = decompress(model, blob, name, sha)
    if out != data:
        raise SystemExit(f"{name}: the round trip is NOT bit-identical")
    kib = len(data) / 1024
    return {
        "file": name, "bytes": len(data), "sqz_bytes": len(blob), "bits_per_byte": packed.bits_per_byte if data else float("nan"),
        "streams": packed.streams, "escaped": packed.escaped, "compress_kib_s": kib / max(packed.cpu_seconds, 1e-9),
        "decompress_kib_s": kib / max(unpacked.cpu_seconds, 1e-9), "compress_cpu_s": packed.cpu_seconds,
        "decompress_cpu_s": unpacked.cpu_seconds, "identical": True, "blob": blob,
    }


def fresh_process_decode(ckpt: Path, blob: bytes, expected: bytes) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        packed, out = Path(tmp) / "test.sqz", Path(tmp) / "test.out"
        packed.write_bytes(blob)
        command = [str(REPO / ".venv/bin/seqgen-decompress"), f"ckpt={ckpt}", f"in={packed}", f"out={out}", f"hydra.run.dir={tmp}/run"]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"seqgen-decompress failed:\n{proc.stderr[-2000:]}")
        return out.read_bytes() == expected


def dynamic_against_static(model, name: str, data: bytes, dynamic, statistics, sha: bytes) -> dict:
    from seqgen.eval.compression import compressor_sizes
    from seqgen.families.text.codec import CodecSettings, compress, tokenise
    from seqgen.families.text.dynamic import score_ids

    ids, _ = tokenise(data, model.vocab)
    started = time.process_time()
    static = score_ids(model, ids, dynamic, None, adapt=False) * len(ids) / len(data)
    adapted = score_ids(model, ids, dynamic, statistics, adapt=True) * len(ids) / len(data)
    estimate_seconds = time.process_time() - started
    static_blob, _ = compress(model, data, CodecSettings("auto"), sha)
    dynamic_blob, dynamic_stats = compress(model, data, CodecSettings("auto", 1, dynamic), sha, lambda _: statistics)
    return {
        "text": name, "bytes": len(data), "static_estimate": static, "dynamic_estimate": adapted,
        "static_real": 8 * len(static_blob) / len(data), "dynamic_real": 8 * len(dynamic_blob) / len(data),
        "change_percent": 100 * (8 * len(dynamic_blob) / len(data) / (8 * len(static_blob) / len(data)) - 1),
        "compressors": {k: 8 * v / len(data) for k, v in compressor_sizes(data).items()},
        "estimate_cpu_s": estimate_seconds, "dynamic_coding_cpu_s": dynamic_stats.cpu_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a text run folder or .ckpt")
    parser.add_argument("--big-mb", type=float, default=10.0)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--big-streams", default="auto", help="streams of the big file (auto: one per 128 KiB)")
    parser.add_argument("--big-only", action="store_true", help="only the 10 MB round trip (run beside --skip-big)")
    parser.add_argument("--skip-dynamic", action="store_true")
    parser.add_argument("--texts", nargs="*", default=DEFAULT_TEXTS, help="unseen texts for dynamic against static")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--decay", type=float)
    parser.add_argument("--segment-length", type=int)
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    from hydra.utils import instantiate

    from seqgen.families.text.codec import CodecSettings
    from seqgen.families.text.dynamic import TEXT_DEFAULTS, training_statistics
    from seqgen.io import sha256_file
    from seqgen.core.checkpoints import find_checkpoint, load_model, run_config

    torch.set_num_threads(1)
    ckpt = find_checkpoint(args.ckpt)
    sha = bytes.fromhex(sha256_file(ckpt))
    model = load_model(ckpt, family="text")
    datamodule = instantiate(run_config(ckpt).data.datamodule)
    datamodule.load_info()
    test = datamodule.test_bytes()
    print(f"# {ckpt} ({sum(p.numel() for p in model.parameters()):,} weights); torch {torch.__version__}, 1 thread, CPU seconds")

    outside = bytes(range(256)) + "caf\u00e9 \u2014 na\u00efve \U0001F600\n".encode() + test[:20_000]
    cases = [] if args.big_only else [("empty", b""), ("1 byte", b"T"), ("test split", test), ("bytes outside the vocabulary", outside)]
    if not args.skip_big:
        cases.append((f"{args.big_mb:g} MB text", big_text(int(args.big_mb * 1_000_000))))
    big_streams = args.big_streams if args.big_streams == "auto" else int(args.big_streams)
    results = [round_trip(model, data, sha, name, CodecSettings(big_streams if name.endswith("MB text") else "auto")) for name, data in cases]
    fresh = args.big_only or fresh_process_decode(ckpt, results[2]["blob"], test)
    print("\n| file | bytes | .sqz bytes | bits per byte | streams | escaped | compress KiB/CPU s | decompress KiB/CPU s | identical |")
    print("|:--|--:|--:|--:|--:|--:|--:|--:|:--|")
    for r in results:
        print(f"| {r['file']} | {r['bytes']:,} | {r['sqz_bytes']:,} | {r['bits_per_byte']:.3f} | {r['streams']} | {r['escaped']:,} | "
              f"{r['compress_kib_s']:.1f} | {r['decompress_kib_s']:.1f} | yes |")
    if not args.big_only:
        print(f"| test split, decoded by seqgen-decompress in a fresh process | | | | | | | | {'yes' if fresh else 'NO'} |")
    if not fresh:
        raise SystemExit("the fresh-process decode differs")

    comparisons = []
    if not (args.skip_dynamic or args.big_only):
        overrides = {k: v for k, v in {"lr": args.lr, "decay": args.decay, "segment_length": args.segment_length}.items() if v is not None}
        dynamic = replace(TEXT_DEFAULTS["rms"], **overrides)
        statistics = training_statistics(model, datamodule.data_dir, dynamic)
        texts = [("test split", test)] + [(Path(t).name, Path(t).read_bytes()) for t in args.texts]
        comparisons = [dynamic_against_static(model, name, data, dynamic, statistics, sha) for name, data in texts]
        print(f"\nDynamic evaluation: {dynamic}")
        print("\n| text | bytes | static est. | static real | dynamic est. | dynamic real | change | PPMd | xz | bzip2 | zstd | zlib | dynamic coding CPU s |")
        print("|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for c in comparisons:
            k = c["compressors"]
            print(f"| {c['text']} | {c['bytes']:,} | {c['static_estimate']:.3f} | {c['static_real']:.3f} | {c['dynamic_estimate']:.3f} | "
                  f"{c['dynamic_real']:.3f} | {c['change_percent']:+.1f}% | {k.get('ppmd', float('nan')):.3f} | {k['lzma']:.3f} | "
                  f"{k['bz2']:.3f} | {k.get('zstd', float('nan')):.3f} | {k['zlib']:.3f} | {c['dynamic_coding_cpu_s']:.0f} |")
    if args.json:
        for r in results:
            r.pop("blob")
        args.json.write_text(json.dumps({"round_trips": results, "fresh_process": fresh, "dynamic": comparisons}, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
