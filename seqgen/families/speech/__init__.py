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
    report.py              NLL per frame, MCD-DTW, duration ratio, alignment monotonicity (`seqgen-eval`)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.core.family import Family


class SpeechFamily(Family):
    name = "speech"
    module_paths = ("seqgen.families.speech.module:SpeechSynthesis",)  # lazy: `prepare` imports no Lightning
    sample_options = frozenset({"text", "phonemes", "speaker", "style", "bias", "num_samples", "max_frames"})
    exclusive_options = (("text", "phonemes"),)

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
        out: dict[str, Any] = {f"figure_{k}": Path(v) for k, v in files.items()}
        out.update(self.report(model, run_dir, datamodule, metrics))
        return out

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.speech.report import report

        return report(model, out_dir, datamodule, metrics)


FAMILY = SpeechFamily()
