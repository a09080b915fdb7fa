"""Intelligibility of generated speech: the phoneme error rate (PER) of a recogniser trained on
real speech (`PhonemeRecognizer`, seqgen/families/recognizer) when it listens to the model.

For the phonemes u_i of real test utterances, spoken in their own speakers' voices, at each
sampling bias b:

    PER(b)       = sum_i d(R(A(V(G(u_i, b)))), u_i) / sum_i |u_i|
    PER_vocoder  = sum_i d(R(A(V(x_i))), u_i) / sum_i |u_i|      the real frames through the same vocoder
    PER_real     = sum_i d(R(x_i), u_i) / sum_i |u_i|            the real frames: the recogniser's own error

G: the synthesis model (frames); V: its vocoder (WORLD or Griffin-Lim) to audio; A: the analysis
`prepare` used (audio -> frames), so the recogniser hears audio, as a listener would; R: the
recogniser (best path); d: edit distance after the data's scoring fold (TIMIT: 39 phones). PER_vocoder
is the floor the model can reach with this vocoder; PER_real - the recogniser's own error - is
below it by what the vocoder loses. Per bias also: the duration ratio (generated / real frames)
and the share of utterances ended by the window rule (not by the frame cap).

The recogniser must hear what the model speaks: the same features (kind and settings: a
recogniser of mel frames cannot read WORLD frames) and the same phone set; otherwise it is
refused, naming the difference.

Wiring: `seqgen-eval ckpt=<speech run> recognizer=<phoneme recogniser run>` (the family's
`evaluate`) writes intelligibility.md / .json / .png and WAVs of the shortest
utterance (listen-real, listen-resynthesised, listen-generated-bias<b>); `model.recognizer=<run>` adds
`IntelligibilityCallback` (the family's `callbacks`), which logs val/per, val/per_bias<b>,
val/per_vocoder and val/per_real after validations, so sweeps and checkpoints can select on it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pytorch_lightning as pl

from seqgen.core.checkpoints import load_model
from seqgen.errors import SeqgenError
from seqgen.eval.legibility import DEFAULT_BIASES
from seqgen.eval.recognizer_callback import RecognizerCallback
from seqgen.families.speech.features import Features, FeatureSpec

log = logging.getLogger(__name__)

TRAIN_HINT = "train one on the same data: seqgen-train experiment=speech_recognizer data=<the speech model's data>"


def check_recognizer(model: Any, recognizer: Any, where: str = "the recogniser") -> None:
    """Refuse a recogniser that does not read what `model` speaks, naming the difference."""
    if getattr(recognizer, "metric", None) != "per":
        raise SeqgenError(f"{where} is a {type(recognizer).__name__}, not a phoneme recogniser; {TRAIN_HINT}")
    heard, spoken = FeatureSpec.from_dict(recognizer.features).describe(), model.spec.describe()
    differences = [f"{key}={heard.get(key)} (recogniser) vs {spoken.get(key)} (speech model)" for key in spoken if heard.get(key) != spoken.get(key)]
    if differences:
        raise SeqgenError(f"{where} was trained on other features than the speech model's: {', '.join(differences)}; {TRAIN_HINT}")
    known, speaks = set(recognizer.vocab), set(model.hparams.data_info["vocab"]["phonemes"])
    if known != speaks:
        missing, extra = sorted(speaks - known), sorted(known - speaks)
        raise SeqgenError(
            f"{where} was trained on another phone set ({len(known)} phones) than the speech data ({len(speaks)}): "
            f"unknown to it: {' '.join(missing) or 'none'}; not in the speech data: {' '.join(extra) or 'none'}; {TRAIN_HINT}"
        )


def load_phoneme_recognizer(path: str | Path, model: Any, device: Any = "cpu") -> Any:
    """A phoneme recogniser run folder or checkpoint, checked against the speech model."""
    recognizer = load_model(path, family="recognizer").to(device)
    check_recognizer(model, recognizer, f"the recogniser {path}")
    return recognizer


def through_vocoder(features: Features, frames: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Raw frames -> (audio from the vocoder, the frames `prepare` would compute from that audio)."""
    audio = [features.to_audio(f) if len(f) else np.zeros(0, np.float32) for f in frames]
    return audio, [features(a) for a in audio]


@dataclass
class Intelligibility:
    """PER per bias, of the real frames through the vocoder and of the real frames, and details."""

    references: list[str]
    biases: list[float]
    per: dict[float, float]
    duration_ratio: dict[float, float]
    finished: dict[float, float]
    per_vocoder: float
    per_real: float
    vocoder: str
    scoring: str
    utterances: list[dict[str, Any]] = field(default_factory=list)  # every generated one: bias, uid, reference, read, ...
    real_reads: list[str] = field(default_factory=list)
    vocoder_reads: list[str] = field(default_factory=list)
    listen: dict[str, np.ndarray] = field(default_factory=dict)  # the shortest utterance: real, resynthesised, generated
    seconds: float = 0.0

    def metrics(self, prefix: str = "test", select_bias: float = 1.0) -> dict[str, float]:
        """Flat metrics; `<prefix>/per` is the PER at the bias nearest `select_bias`."""
        out: dict[str, float] = {}
        for b in self.biases:
            out[f"{prefix}/per_bias{b:g}"] = self.per[b]
            out[f"{prefix}/duration_ratio_bias{b:g}"] = self.duration_ratio[b]
            out[f"{prefix}/finished_bias{b:g}"] = self.finished[b]
        chosen = min(self.biases, key=lambda b: abs(b - select_bias))
        out[f"{prefix}/per"] = self.per[chosen]
        out[f"{prefix}/per_vocoder"] = self.per_vocoder
        out[f"{prefix}/per_real"] = self.per_real
        out[f"{prefix}/per_over_vocoder"] = self.per[chosen] / self.per_vocoder if self.per_vocoder > 0 else math.inf
        out[f"{prefix}/intelligibility_utterances"] = float(len(self.references))
        return out


def intelligibility_of_model(
    model: Any,
    recognizer: Any,
    datamodule: Any,
    split: str = "test",
    limit: int = 64,
    biases: Iterable[float] = DEFAULT_BIASES,
    seed: int = 0,
) -> Intelligibility:
    """Generate the first `limit` utterances of `split` at each bias and score what the recogniser hears."""
    from seqgen.families.speech.generate import synthesise

    biases = [float(b) for b in biases]
    if not biases or any(not math.isfinite(b) or b < 0 for b in biases):
        raise SeqgenError(f"biases={biases}: give one or more biases >= 0, e.g. [0, 0.5, 1, 2]")
    check_recognizer(model, recognizer)
    utterances = datamodule.read_utterances(split, int(limit))
    if not utterances:
        raise SeqgenError(f"intelligibility: the '{split}' split has no utterances")
    start = time.perf_counter()
    features, table = Features(model.spec), model.table
    references = [" ".join(u["phones"]) for u in utterances]
    real = [model.denormalise(u["frames"].numpy()) for u in utterances]
    resynthesised, heard = through_vocoder(features, real)
    result = Intelligibility(references, biases, {}, {}, {}, 0.0, 0.0, model.spec.vocoder, recognizer.scoring_name)
    result.real_reads, result.vocoder_reads = recognizer.read(real), recognizer.read(heard)
    result.per_real = recognizer.error_rate(result.real_reads, references)
    result.per_vocoder = recognizer.error_rate(result.vocoder_reads, references)
    listen = int(np.argmin([len(f) for f in real]))  # the shortest utterance: small WAVs to listen to
    if utterances[listen].get("audio") is not None:
        result.listen["real"] = utterances[listen]["audio"]
    result.listen["resynthesised"] = resynthesised[listen]
    symbols = [[table.symbols[int(i) - 1] for i in u["symbols"]] for u in utterances]
    speakers = [u["speaker_name"] for u in utterances]
    cap = 3 * max(len(f) for f in real)  # a window that never ends costs no more than this
    for bias in biases:
        samples = synthesise(model, symbols, speakers, bias=bias, seed=seed, max_frames=cap)
        audio, frames = through_vocoder(features, [model.denormalise(s.frames) for s in samples])
        reads = recognizer.read(frames)
        result.per[bias] = recognizer.error_rate(reads, references)
        result.duration_ratio[bias] = float(np.mean([len(s.frames) / max(len(r), 1) for s, r in zip(samples, real)]))
        result.finished[bias] = float(np.mean([s.finished for s in samples]))
        result.listen[f"generated-bias{bias:g}"] = audio[listen]
        for utt, sample, ref, got in zip(utterances, samples, references, reads):
            result.utterances.append({"bias": bias, "uid": utt["uid"], "speaker": utt["speaker_name"], "reference": ref, "read": got,
                                      "per": recognizer.error_rate([got], [ref]), "frames": len(sample.frames),
                                      "real_frames": len(utt["frames"]), "ended": bool(sample.finished)})
    result.seconds = time.perf_counter() - start
    return result


def per_bias_plot(result: Intelligibility, path: Path) -> Path:
    """PER of generated speech against bias, with the vocoder floor and the real frames."""
    from seqgen.render.plots import error_by_bias_plot

    floors = [(result.per_vocoder, f"real frames through {result.vocoder}", "grey", "--"),
              (result.per_real, "real frames (recogniser's own error)", "black", ":")]
    return error_by_bias_plot(result.biases, [result.per[b] for b in result.biases], "generated speech", floors,
                              "phoneme error rate (%)", f"Intelligibility ({len(result.references)} utterances)", path,
                              legend_size=7)


def write_intelligibility(result: Intelligibility, out_dir: str | Path, sample_rate: int, select_bias: float = 1.0) -> dict[str, str]:
    """intelligibility.md / .json / .png and listen-*.wav (the shortest utterance) in `out_dir`."""
    from seqgen.families.speech.features import write_wav
    from seqgen.io import atomic_write, write_json

    out = Path(out_dir)
    rows = ["| speech | PER | duration ratio gen/real | ended by the window rule |", "|---|---|---|---|"]
    for b in result.biases:
        rows.append(f"| generated, bias {b:g} | {100 * result.per[b]:.1f}% | {result.duration_ratio[b]:.2f} | {100 * result.finished[b]:.0f}% |")
    rows.append(f"| real frames through {result.vocoder} (floor) | {100 * result.per_vocoder:.1f}% | | |")
    rows.append(f"| real frames, no vocoder | {100 * result.per_real:.1f}% | | |")
    chosen = min(result.biases, key=lambda b: abs(b - select_bias))
    examples = [u for u in result.utterances if u["bias"] == chosen][:6]
    rows += ["", f"Scoring: {result.scoring}. Examples at bias {chosen:g}:", "", "| reference | heard | PER |", "|---|---|---|"]
    rows += [f"| `{e['reference']}` | `{e['read']}` | {100 * e['per']:.0f}% |" for e in examples]
    text = f"# Intelligibility ({len(result.references)} utterances, {result.seconds:.1f} s)\n\n" + "\n".join(rows) + "\n"
    files = {
        "intelligibility_plot": str(per_bias_plot(result, out / "intelligibility.png")),
        "intelligibility_report": str(atomic_write(out / "intelligibility.md", text)),
        "intelligibility_utterances": str(write_json(out / "intelligibility.json", {
            "per": {f"{b:g}": v for b, v in result.per.items()}, "per_vocoder": result.per_vocoder, "per_real": result.per_real,
            "scoring": result.scoring, "vocoder": result.vocoder, "utterances": result.utterances,
            "real_reads": result.real_reads, "vocoder_reads": result.vocoder_reads})),
    }
    for name, audio in result.listen.items():
        files[f"listen-{name}"] = str(write_wav(out / f"listen-{name}.wav", audio, sample_rate))
    return files


def evaluate_with_recognizer(model: Any, cfg: Any, datamodule: Any, metrics: dict[str, float], out_dir: Path) -> dict[str, Any]:
    """`seqgen-eval ckpt=<speech run> recognizer=<run>` on the test split: adds test/per... to
    `metrics`, returns the files (`logger=wandb` logs the WAVs and the plot as audio and images)."""
    recognizer = load_phoneme_recognizer(cfg.recognizer, model, cfg.device)
    select = float(cfg.select_bias)
    result = intelligibility_of_model(model, recognizer, datamodule, "test", int(cfg.legibility_lines), list(cfg.biases), int(cfg.seed))
    metrics.update(result.metrics("test", select))
    return {"recognizer": str(cfg.recognizer), **write_intelligibility(result, out_dir, model.spec.sample_rate, select)}


class IntelligibilityCallback(RecognizerCallback):
    """`model.recognizer=<phoneme recogniser run>`: the PER of generated validation utterances after
    validations, logged as val/per (at `select_bias`), val/per_bias<b>, val/per_vocoder, val/per_real;
    the last result's report and WAVs go to the run folder (and W&B) at the end of training."""

    progress_key, options_key, count_name = "val/per", "model.intelligibility", "utterances"

    def __init__(self, recognizer: str, biases: Iterable[float] = DEFAULT_BIASES, select_bias: float = 1.0, utterances: int = 16,
                 every_n_validations: int = 1, seed: int = 0) -> None:
        super().__init__(recognizer, biases, select_bias, utterances, every_n_validations, seed)

    def load(self, pl_module: pl.LightningModule) -> Any:
        return load_phoneme_recognizer(self.path, pl_module, pl_module.device)

    def measure(self, pl_module: pl.LightningModule, datamodule: Any) -> Intelligibility:
        return intelligibility_of_model(pl_module, self._recognizer, datamodule, "valid", self.count, self.biases, self.seed)

    def write(self, result: Intelligibility, run_dir: Path, pl_module: pl.LightningModule) -> None:
        # the family's end-of-run figures pick up the plot and the WAVs (and send them to W&B)
        write_intelligibility(result, run_dir, pl_module.spec.sample_rate, self.select_bias)


def listening_files(run_dir: Path) -> dict[str, Path]:
    """The intelligibility plot and WAVs a training run's callback left in `run_dir`."""
    files = {"intelligibility_plot": run_dir / "intelligibility.png", **{path.stem: path for path in sorted(run_dir.glob("listen-*.wav"))}}
    return {key: path for key, path in files.items() if path.is_file()}
