"""A page of handwriting against the same lines written separately: legibility, line heights,
baselines, pen-up travel (docs/handwriting.md, "Pages").

    .venv/bin/python benchmarks/page_layout.py --synthesis outputs/synthesis_10min --recognizer outputs/recognizer_sparse

A ~120-word paragraph (not from the training corpus) is wrapped to --width and written at --bias
as one page (`write_page`), for each seed. The recogniser reads back

* every line of the laid-out page (converted back to the model's raw units by the page's scale),
* the same lines as the model wrote them for the page, before layout (isolates the layout),
* the same lines written separately, one `write` call per line (the issue's baseline);

CER = edit distance / reference characters (torchmetrics); reading nothing scores 100%. Also
printed per seed: the x-height spread and the largest word-baseline deviation (`pages.page_quality`)
on the page and as written, and the pen-up travel against the written order. CPU seconds are the
process's (`time.process_time`); run with one thread on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARAGRAPH = (
    "Recurrent networks can generate sequences of great complexity simply by predicting one data point "
    "at a time. The network reads what it has written so far and guesses what comes next. For text, "
    "the next point is a character; for handwriting it is a small move of the pen, together with the "
    "chance that the pen is lifted. A soft window over the letters tells the network which part of "
    "the text it should be writing, and it moves along the line as the pen does. With a bias the "
    "samples become neater and more regular, and with a primed style the network imitates the hand "
    "of another writer. Here the lines are set on a page, in one size and on straight baselines."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthesis", required=True, help="a handwriting synthesis run or .ckpt")
    parser.add_argument("--recognizer", required=True, help="a recogniser run or .ckpt trained on the same pen density")
    parser.add_argument("--width", default="30ch")
    parser.add_argument("--align", default="justify")
    parser.add_argument("--bias", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="outputs/page_layout", help="each seed's page files go to <out>/seed<N>")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from torchmetrics.functional.text import char_error_rate

    from seqgen.families.handwriting.legibility import load_recognizer
    from seqgen.families.handwriting.generate import write
    from seqgen.families.handwriting.layout import LayoutOptions, page_line_offsets, write_page
    from seqgen.families.handwriting.pages import page_quality, save_written_page
    from seqgen.render.plotter import GcodeOptions
    from seqgen.core.checkpoints import load_model

    model = load_model(args.synthesis, family="handwriting")
    reader = load_recognizer(args.recognizer)
    options = LayoutOptions.from_mapping({"width": args.width, "align": args.align})
    print(f"# {args.synthesis}, bias {args.bias}, width {args.width}, {args.align}")
    print("| seed | lines | CER page | CER as written for the page | CER written separately | lines within 10% of the x-height | x-height spread page / as written | "
          "word baselines page / as written (x-heights) | pen-up travel / written order | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals = {"page": [], "raw": [], "separate": []}
    for seed in range(args.seeds):
        started = time.process_time()
        written = write_page(model, PARAGRAPH, options, args.bias, seed=seed)
        texts = [line.text for line in written.lines]
        page_lines = [page_line_offsets(written.page, k, written.mm_per_unit) for k in range(len(texts))]
        separate = [write(model, [text], args.bias, seed=seed + 1000 * k).offsets[0] for k, text in enumerate(texts)]
        cer = {
            "page": float(char_error_rate(reader.read(page_lines), texts)),
            "raw": float(char_error_rate(reader.read(written.samples.offsets), texts)),
            "separate": float(char_error_rate(reader.read(separate), texts)),
        }
        for key, value in cer.items():
            totals[key].append((value, sum(len(t) for t in texts)))
        quality = page_quality(written)
        files = save_written_page(written, Path(args.out) / f"seed{seed}", GcodeOptions())
        report = json.loads(Path(files["page_json"]).read_text())
        print(
            f"| {seed} | {len(texts)} | {100 * cer['page']:.1f}% | {100 * cer['raw']:.1f}% | {100 * cer['separate']:.1f}% | "
            f"{100 * quality['lines_within_10pct']:.0f}% | "
            f"{100 * quality['x_height_spread']:.1f}% / {100 * quality['raw_x_height_spread']:.1f}% | "
            f"{quality['baseline_deviation']:.3f} / {quality['raw_baseline_deviation']:.3f} | "
            f"{report['travel_mm']:.0f} / {report['travel_written_mm']:.0f} mm ({100 * report['travel_saved']:.0f}% saved) | "
            f"{time.process_time() - started:.1f} |"
        )
    pooled = {k: sum(v * n for v, n in rows) / sum(n for _, n in rows) for k, rows in totals.items()}
    print(f"pooled CER: page {100 * pooled['page']:.1f}%, as written for the page {100 * pooled['raw']:.1f}%, "
          f"written separately {100 * pooled['separate']:.1f}% (reading nothing: 100%)")


if __name__ == "__main__":
    main()
