"""The speech family (Graves 2013's synthesis network on audio): phonemes or characters -> frames.

    timit.py / phones.py   TIMIT reader (SPHERE, .PHN/.WRD/.TXT, 61 -> 48 -> 39, standard split)
    espeak.py              embedded multi-speaker corpus built with libespeak-ng (exact phoneme boundaries)
    features.py            linear / mel / MFCC frames (torchaudio), Griffin-Lim back to audio, WAV I/O
    prepare.py             corpus -> shards + meta.json, streamed
    datamodule.py          padded frames, symbols, speaker ids
    nets.py                stacked LSTM + soft window + diagonal-Gaussian mixture over frames
    module.py              SpeechSynthesis: loss, metrics, forward
    generate.py            sampling (bias, priming, per-row stopping), WAVs, `seqgen-sample`
    figures.py             generated vs real spectrograms, alignment, WAVs, W&B
    world.py               WORLD vocoder features (pyworld): F0, voicing, mel-cepstrum, band aperiodicity
    report.py              NLL per frame, MCD-DTW, duration ratio, alignment monotonicity (`seqgen-eval`)
    intelligibility.py     PER of generated speech heard by a phoneme recogniser (`seqgen-eval recognizer=`,
                           `model.recognizer=`)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.core.family import Family, program
from seqgen.families.speech.config import SpeechSampleOptions


class SpeechFamily(Family):
    name = "speech"
    module_paths = ("seqgen.families.speech.module:SpeechSynthesis",)  # lazy: `prepare` imports no Lightning
    sample_schema = SpeechSampleOptions
    exclusive_options = (("text", "phonemes"),)
    callback_keys = frozenset({"recognizer", "intelligibility"})

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from seqgen.families.speech.generate import sample_command

        return sample_command(model, cfg, out_dir)

    def preview(self, model: Any, datamodule: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.speech.generate import preview

        return preview(model, out_dir, tag)

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        """Generated versus real spectrograms, the alignment and both WAVs (media), and the report."""
        from seqgen.families.speech.generate import compare_with_real

        files: dict[str, Path] = {}
        utterances = datamodule.read_utterances("valid", 1)
        if utterances:
            files = compare_with_real(model, utterances[0], Path(run_dir), "speech", bias=float(model.hparams.preview_bias))
        from seqgen.families.speech.intelligibility import listening_files

        out: dict[str, Any] = {f"figure_{k}": Path(v) for k, v in files.items()}
        out.update(listening_files(Path(run_dir)))  # model.recognizer=: the last intelligibility's plot and WAVs
        out.update(self.report(model, run_dir, datamodule, metrics))
        return out

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.speech.report import report

        return report(model, out_dir, datamodule, metrics)

    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """Test NLL and the spectral distance of generated to real utterances (MCD-DTW)."""
        metrics = {**(result.get("metrics") or {}), **{k: v for k, v in result.items() if k.startswith("test/")}}
        if "test/mcd_dtw" not in metrics:
            return None
        return f"test: MCD-DTW {metrics['test/mcd_dtw']:.2f} dB to the real utterances, NLL {metrics.get('test/nll', float('nan')):.3f} nats per frame"

    def next_commands(self, run: str, result: Mapping[str, Any]) -> list[str]:
        return [f"""{program('seqgen-sample')} ckpt={run} "text='hello world'" bias=1.0""", f"{program('seqgen-eval')} ckpt={run}"]

    def callbacks(self, cfg: Any) -> list[Any]:
        """`model.recognizer=<phoneme recogniser run>`: intelligibility (val/per) after validations
        (`model.intelligibility.*`)."""
        recognizer = cfg.model.get("recognizer")
        if not recognizer:
            return []
        from seqgen.families.speech.intelligibility import IntelligibilityCallback

        return [IntelligibilityCallback(str(recognizer), **dict(cfg.model.get("intelligibility") or {}))]

    def check_evaluate(self, model: Any, cfg: Any) -> None:
        """`recognizer=`: a phoneme recogniser of the model's features and phone set."""
        if cfg.get("recognizer"):
            from seqgen.families.speech.intelligibility import load_phoneme_recognizer

            load_phoneme_recognizer(cfg.recognizer, model, cfg.device)

    def evaluate(self, model: Any, cfg: Any, datamodule: Any, metrics: dict[str, float], out_dir: Path) -> dict[str, Any]:
        """`seqgen-eval recognizer=<run>`: intelligibility of the test sentences (PER per bias)."""
        if not cfg.get("recognizer"):
            return {}
        from seqgen.families.speech.intelligibility import evaluate_with_recognizer

        return evaluate_with_recognizer(model, cfg, datamodule, metrics, Path(out_dir))


FAMILY = SpeechFamily()
