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
from typing import Any, Mapping

from seqgen.families.base import Family


class SpeechFamily(Family):
    name = "speech"
    module_paths = ("seqgen.families.speech.module:SpeechSynthesis",)  # lazy: `prepare` imports no Lightning
    sample_options = frozenset({"text", "phonemes", "speaker", "style", "bias", "num_samples", "max_frames"})

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from seqgen.families.speech.generate import sample_command

        return sample_command(model, cfg, out_dir)

    def preview(self, model: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.speech.figures import preview

        return preview(model, out_dir, tag)

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.speech.figures import compare_with_real, log_to_wandb

        files: dict[str, Any] = {}
        utterances = datamodule.read_utterances("valid", 1)
        if utterances:
            files = compare_with_real(model, utterances[0], Path(run_dir), "speech", bias=float(model.hparams.preview_bias))
            log_to_wandb(files)
        out = {f"figure_{k}": str(v) for k, v in files.items()}
        out.update(self.report(model, run_dir, datamodule, metrics))
        return out

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.speech.report import report

        return report(model, out_dir, datamodule, metrics)

    def callbacks(self, cfg: Any, model: Any) -> list[Any]:
        from omegaconf import OmegaConf

        from seqgen.families.speech.intelligibility import callbacks_from_config

        return callbacks_from_config(OmegaConf.to_container(cfg.model, resolve=True))

    def evaluate_with_recognizer(self, model: Any, cfg: Any, datamodule: Any, out_dir: Path) -> tuple[dict[str, float], dict[str, Any]]:
        from seqgen.families.speech.intelligibility import evaluate_with_recognizer

        return evaluate_with_recognizer(model, cfg, datamodule, out_dir)


FAMILY = SpeechFamily()
