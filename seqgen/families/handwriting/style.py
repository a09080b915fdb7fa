"""A measured likeness: how much lines written in a writer's style look like that writer.

`seqgen-eval ckpt=<synthesis run> style=true writer_id=<writer classifier run>`. For each of the
first K embedded writers W (`meta.json` styles: a training line per writer), the model writes the
same texts (the first test texts) in three conditions:

    none          no style (the model's own hand; the K blocks differ only by their random draws)
    primed        primed with W's style line (Sec. 5.5)
    personalised  primed, by a copy adapted to W's lines (`personalise.py`: the style line and
                  up to adapt_lines - 1 more training lines of W)

and the writer classifier (the `writer_id` family, trained on the corpus's training writers)
attributes every line among the K writers:

    style accuracy = (1 / N) sum_lines [ argmax_{k <= K} p(W_k | line) = W ]      chance = 1 / K

next to its accuracy on W's real lines outside the training split (the ceiling). Style distance on
the classifier's embedding e (L2-normalised): for a line g written for W,

    d_own(g) = mean_{r in R_W} |e(g) - e(r)|,    d_other(g) = mean_{r in R_V, V != W} |e(g) - e(r)|

over the K writers' real training lines R; reported as their means and the ratio d_own / d_other
(below 1: nearer W's own lines than the other writers').

With the real IAM-OnDB styles at hand (`paths.styles_dir`, as for `seqgen-sample style=N`), each
real line primes the model to write `real_style_text`, and `real_styles.png` shows the real line
above the new one (`real_styles_figure`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from seqgen.core.checkpoints import load_model
from seqgen.errors import SeqgenError
from seqgen.families.handwriting.generate import Prime, write
from seqgen.families.handwriting.personalise import AdaptSettings, personalise
from seqgen.io import atomic_write, write_json

log = logging.getLogger(__name__)

CONDITIONS = ("none", "primed", "personalised")


def load_writer_classifier(model: Any, path: str | Path, device: Any = "cpu") -> Any:
    """The writer classifier at `path`, checked: it knows the writers the model's styles come from."""
    classifier = load_model(path, family="writer_id").to(device)
    missing = [s["writer"] for s in model.train_styles if s["writer"] not in classifier.index]
    if not model.train_styles:
        raise SeqgenError("style=true: the synthesis model's data kept no writer styles (meta.json styles)")
    if missing:
        raise SeqgenError(
            f"style=true: the writer classifier at {path} does not know the embedded writers {missing[:3]}: "
            "train it on the synthesis model's data (seqgen-train experiment=writer_id_sparse)"
        )
    return classifier


def writer_lines(datamodule: Any, writers: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{writer: {split: decoded lines}} of the given writers, every split read once."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {w: {"train": [], "valid": [], "test": []} for w in writers}
    for split in ("train", "valid", "test"):
        for line in datamodule.read_lines(split, 10**9):
            if line["writer"] in found:
                found[line["writer"]][split].append(line)
    return found


def _unit(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def _scores(probs: np.ndarray, emb: np.ndarray, owner: np.ndarray, classes: list[int], ref_emb: np.ndarray, ref_owner: np.ndarray) -> dict[str, float]:
    """Accuracy among the K writers, top-1 among all, and the embedding distances (module docstring)."""
    restricted = np.asarray(classes)[probs[:, classes].argmax(1)]
    own_class = np.asarray(classes)[owner]
    dist = np.linalg.norm(_unit(emb)[:, None, :] - _unit(ref_emb)[None, :, :], axis=-1)
    same = owner[:, None] == ref_owner[None, :]
    d_own = float((dist * same).sum() / max(same.sum(), 1))
    d_other = float((dist * ~same).sum() / max((~same).sum(), 1))
    return {"accuracy": float((restricted == own_class).mean()), "accuracy_all_writers": float((probs.argmax(1) == own_class).mean()),
            "distance_own": d_own, "distance_other": d_other, "distance_ratio": d_own / max(d_other, 1e-12)}


def style_measures(model: Any, cfg: Any, datamodule: Any, out: Path, real_styles: Optional[Path] = None) -> dict[str, Any]:
    """`seqgen-eval style=true`: the three conditions for the first `style_writers` embedded writers;
    returns flat `style/...` metrics and writes style.md / style.json in `out` (and real_styles.png
    from the folder `real_styles` of real IAM-OnDB styles, when it has them)."""
    from seqgen.families.handwriting.legibility import real_lines

    classifier = load_writer_classifier(model, cfg.writer_id, cfg.device)
    styles = model.train_styles[: int(cfg.style_writers)]
    if len(styles) < 2:
        raise SeqgenError(f"style=true needs at least two embedded writers, the model has {len(model.train_styles)}")
    writers = [s["writer"] for s in styles]
    classes = [classifier.index[w] for w in writers]
    texts, _ = real_lines(datamodule, "test", int(cfg.style_lines), int(model.hparams.max_text_chars))
    lines = writer_lines(datamodule, writers)
    settings = AdaptSettings(int(cfg.adapt_steps), float(cfg.adapt_seconds))
    bias, seed = float(cfg.get("style_bias", 0.5)), int(cfg.seed)
    written: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    adapt_report = []
    written["none"] = write(model, texts * len(writers), bias, seed=seed).offsets
    for k, entry in enumerate(styles):
        prime = Prime(np.asarray(entry["offsets"], dtype=np.float32), entry["text"], entry["writer"])
        written["primed"] += write(model, texts, bias, prime, seed=seed + k).offsets
        own = [l for l in lines[entry["writer"]]["train"] if l["text"] != entry["text"]][: max(int(cfg.adapt_lines) - 1, 0)]
        adapted = personalise(model, [prime.offsets] + [l["offsets"].numpy() for l in own], [prime.text] + [l["text"] for l in own], settings)
        adapt_report.append({"writer": entry["writer"], "lines": 1 + len(own), **adapted.describe()})
        written["personalised"] += write(adapted.model, texts, bias, prime, seed=seed + k).offsets
    owner = np.repeat(np.arange(len(writers)), len(texts))
    norm = datamodule.norm
    refs = [(k, norm.invert(l["offsets"].numpy())) for k, w in enumerate(writers) for l in lines[w]["train"]]
    ref_owner = np.asarray([k for k, _ in refs])
    _, ref_emb = classifier.classify([r for _, r in refs])
    results: dict[str, dict[str, float]] = {}
    for condition in CONDITIONS:
        probs, emb = classifier.classify(written[condition])
        results[condition] = _scores(probs, emb, owner, classes, ref_emb, ref_owner)
    held = [(k, norm.invert(l["offsets"].numpy())) for k, w in enumerate(writers) for s in ("valid", "test") for l in lines[w][s]]
    if held:
        probs, emb = classifier.classify([r for _, r in held])
        results["real"] = _scores(probs, emb, np.asarray([k for k, _ in held]), classes, ref_emb, ref_owner)
    metrics = {f"style/{key}_{cond}": value for cond, row in results.items() for key, value in row.items()}
    metrics.update({"style/chance": 1.0 / len(writers), "style/writers": float(len(writers)), "style/lines_per_condition": float(len(owner)),
                    "style/adapt_seconds_mean": float(np.mean([a["seconds"] for a in adapt_report]))})
    files = write_style_report(results, metrics, adapt_report, writers, texts, out)
    figure = real_styles_figure(model, cfg, real_styles, out / "real_styles.png")
    if figure is not None:
        files["real_styles"] = str(figure)
    return {"metrics": metrics, **files}


def real_styles_figure(model: Any, cfg: Any, folder: Optional[Path], path: Path) -> Optional[Path]:
    """The real IAM-OnDB lines of `folder` as styles: each real line, then `cfg.real_style_text`
    written primed by it (bias `style_bias`); None when the folder holds no real styles."""
    from seqgen.data.handwriting.user_styles import load_real_styles
    from seqgen.render.strokes import side_by_side_png

    if folder is None or not any(Path(folder).glob("style-*-strokes.npy")):
        log.info("no real styles folder (paths.styles_dir): real_styles.png is not drawn")
        return None
    text = str(cfg.get("real_style_text") or "Meet me at 7:30 on Friday.")
    rows: list[tuple[str, np.ndarray]] = []
    for n, line in enumerate(load_real_styles(folder)):
        if any(ch not in model.vocab for ch in line.text):
            continue
        prime = Prime(model.norm.adapt(line.offsets), line.text, line.writer)
        written = write(model, [text], float(cfg.get("style_bias", 0.5)), prime, seed=int(cfg.seed) + n)
        rows += [(f"style {n}, real", line.offsets), (f"style {n}, written", written.offsets[0])]
    return side_by_side_png(rows, path) if rows else None


def write_style_report(results: dict[str, dict[str, float]], metrics: dict[str, float], adapt: list[dict[str, Any]], writers: list[str], texts: list[str], out: Path) -> dict[str, str]:
    """style.md (the table) and style.json (everything) in `out`."""
    k = len(writers)
    rows = [f"# Style likeness ({k} writers x {len(texts)} texts per condition; chance {100 / k:.1f}%)", "",
            "| lines | style accuracy (among the K writers) | top-1 among all training writers | d_own | d_other | d_own / d_other |",
            "|---|---|---|---|---|---|"]
    for cond, row in results.items():
        label = "real lines of W (valid + test)" if cond == "real" else cond
        rows.append(f"| {label} | {100 * row['accuracy']:.1f}% | {100 * row['accuracy_all_writers']:.1f}% | "
                    f"{row['distance_own']:.3f} | {row['distance_other']:.3f} | {row['distance_ratio']:.3f} |")
    rows += ["", "Personalisation per writer (steps, CPU seconds, NLL per point before -> after):", ""]
    rows += [f"- {a['writer']}: {a['lines']} lines, {a['steps']} steps, {a['seconds']:.1f} s, {a['nll_before']:.3f} -> {a['nll_after']:.3f}" for a in adapt]
    return {"style_report": str(atomic_write(out / "style.md", "\n".join(rows) + "\n")),
            "style_details": str(write_json(out / "style.json", {"results": results, "metrics": metrics, "adaptation": adapt,
                                                               "writers": writers, "texts": texts}))}
