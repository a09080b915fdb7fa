"""Recogniser speed: training step, decoding (best path vs beam), and the legibility evaluation of
100 generated lines (writing vs reading).

    .venv/bin/python benchmarks/recognizer.py                    # quick-start size, CPU, 1 thread
    .venv/bin/python benchmarks/recognizer.py --repeats 5 --beam 16

Data: Hershey lines rendered on the fly (the quick-start corpus's writers, 8-32 characters, ~26
points per character), so no prepared shards are needed. Models are untrained (speed only; an
untrained synthesis window is set to move one character per 26 points so lines end like a
trained model's, as in benchmarks/handwriting_synthesis.py).

Times are CPU seconds of this process (`time.process_time`, one torch thread): on a shared machine
wall-clock time mostly measures the other jobs; with one thread, CPU time is what a free core would
take. Printed side by side in one run (implementations alternate within each repetition, so a change in
machine load hits them alike): training step time for subsample 1/3/6 (frames per pen point), and
the ratio; decoding per line, greedy vs beam; for 100 lines at one bias, seconds to write them
(synthesis sampling) vs to read them (recogniser), i.e. what one bias of `seqgen-eval ...
recognizer=` costs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

from seqgen.data.handwriting.batch import collate_lines
from seqgen.families.handwriting.hershey import render_line, sample_writers, text_lines_from_corpus
from seqgen.data.handwriting.strokes import NormStats
from seqgen.eval.legibility import evaluate_legibility
from seqgen.families.recognizer.module import HandwritingRecognizer

PROSE = (
    "The quick brown fox jumps over the lazy dog while numbers from the sequence are written by hand "
    "and read back by a recogniser that measures how legible the generated lines are for any reader "
) * 20


def corpus(n: int) -> tuple[dict, list[dict], list[np.ndarray], list[str]]:
    texts = text_lines_from_corpus(PROSE, 8, 32, max_lines=n, fonts=("scripts",))
    writers = sample_writers(20, seed=0, fonts=("scripts",))
    lines = [render_line(t, writers[i % 20], np.random.default_rng(i)) for i, t in enumerate(texts)]
    norm = NormStats.fit(lines)
    vocab = sorted(set("".join(texts)))
    index = {c: i for i, c in enumerate(vocab)}
    items = [{"offsets": torch.from_numpy(norm.apply(l.offsets)), "chars": torch.tensor([index[c] for c in l.text]),
              "text": l.text, "writer": l.writer, "id": str(i)} for i, l in enumerate(lines)]
    info = {"family": "handwriting", "norm": norm.to_dict(), "vocab": {"chars": vocab}}
    return info, items, [l.offsets for l in lines], texts


def time_train_steps(models: dict[str, HandwritingRecognizer], batch: dict, repeats: int) -> dict[str, float]:
    opts = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for index in range(repeats + 1):
        for name, model in models.items():
            start = time.process_time()
            loss, _ = model.compute_loss(batch)
            opts[name].zero_grad()
            loss.backward()
            opts[name].step()
            if index:  # round 0 warms up
                times[name].append(time.process_time() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--beam", type=int, default=8)
    parser.add_argument("--lines", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    info, items, raw, texts = corpus(max(args.lines, args.batch))
    batch = collate_lines(items[: args.batch])
    points = int((batch.lengths - 1).sum())
    print(f"# recogniser benchmark: {args.threads} thread(s), batch {args.batch} ({points} points, "
          f"{points / int(batch.char_lengths.sum()):.1f} points/char), hidden 96 x 2 BLSTM")

    models = {f"subsample {k}": HandwritingRecognizer(info, hidden_size=96, num_layers=2, subsample=k) for k in (1, 3, 6)}
    steps = time_train_steps(models, batch, args.repeats)
    base = steps["subsample 1"]
    print("\n| training step | CPU s per step | points/s | speed-up |\n|---|---|---|---|")
    for name, sec in steps.items():
        print(f"| {name} | {sec:.3f} | {points / sec:,.0f} | {base / sec:.2f}x |")

    model = models["subsample 6"]
    model.hparams.beam_width = args.beam
    lines = raw[: args.lines]
    t_greedy = t_beam = 0.0
    for index in range(args.repeats + 1):
        start = time.process_time()
        model.read(lines, "greedy")
        greedy = time.process_time() - start
        start = time.process_time()
        model.read(lines, "beam")
        beam = time.process_time() - start
        if index:
            t_greedy, t_beam = t_greedy + greedy / args.repeats, t_beam + beam / args.repeats
    print(f"\n| decoding {len(lines)} lines | CPU s | ms per line | vs greedy |\n|---|---|---|---|")
    print(f"| best path (greedy) | {t_greedy:.3f} | {1e3 * t_greedy / len(lines):.2f} | 1.00x |")
    print(f"| prefix beam, width {args.beam} | {t_beam:.3f} | {1e3 * t_beam / len(lines):.2f} | {t_beam / t_greedy:.1f}x |")

    # Legibility of 100 generated lines at one bias: writing (synthesis sampling) vs reading.
    from seqgen.families.handwriting.generate import sample_synthesis
    from seqgen.families.handwriting.config import HandwritingSynthesisConfig
    from seqgen.families.handwriting.nets import SynthesisNet

    net = SynthesisNet(len(info["vocab"]["chars"]), HandwritingSynthesisConfig(hidden_size=128, num_layers=2, window_components=5, mixture_components=10, kappa_scale=25.0, clip_lstm_grad=None, clip_output_grad=None)).eval()
    k = net.window.n_components
    with torch.no_grad():  # a window that moves one character per 26 points: lines end like a trained model's
        net.window.linear.weight.zero_()
        net.window.linear.bias[:k] = 0.0
        net.window.linear.bias[k : 2 * k] = math.log(4.0)
        net.window.linear.bias[2 * k :] = math.log(net.window.kappa_scale / 26.0)
    norm = NormStats.from_dict(info["norm"])
    vocab = info["vocab"]["chars"]
    spent = {"write": 0.0, "read": 0.0}

    def write(batch_texts: list[str], bias: float):
        start = time.process_time()
        out = sample_synthesis(net, norm, vocab, batch_texts, bias, None, 3 * 26 * 32 + 100, 40, torch.Generator().manual_seed(0))
        spent["write"] += time.process_time() - start
        return out

    def read(strokes: list[np.ndarray]) -> list[str]:
        start = time.process_time()
        out = model.read(strokes, "greedy")
        spent["read"] += time.process_time() - start
        return out

    start = time.process_time()
    evaluate_legibility(write, read, texts[: args.lines], [1.0])
    total = time.process_time() - start
    print(f"\n| legibility, {args.lines} lines, 1 bias | CPU s | share |\n|---|---|---|")
    for name in ("write", "read"):
        print(f"| {name} | {spent[name]:.2f} | {100 * spent[name] / total:.0f}% |")
    print(f"| total (incl. CER) | {total:.2f} | 100% |")


if __name__ == "__main__":
    main()
