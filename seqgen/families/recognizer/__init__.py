"""The recogniser family: BLSTM + CTC recognisers, the measures of legibility and intelligibility.

    nets.py      RecognizerNet: bidirectional LSTM over frames of any width, CTC output layer
    module.py    FrameRecognizer (loss, metrics, `read`) and its two inputs:
                 HandwritingRecognizer (pen offsets -> characters, CER, Graves et al. 2009),
                 PhonemeRecognizer (audio feature frames -> phonemes, PER, Graves et al. 2013)
    decode.py    best path and prefix beam search, CER (torchmetrics)
    report.py    recognizer.md: the error rate and transcriptions of real test sequences

The handwriting recogniser trains on the handwriting shards (`data=handwriting_hershey` or
`iam_ondb`), the phoneme recogniser on the speech shards (`data=speech_espeak` or `timit`), each
with its data's own datamodule:

    seqgen-train experiment=recognizer_quickstart                      # handwriting, val/cer
    seqgen-train experiment=speech_recognizer                          # speech, val/per
    seqgen-eval ckpt=<recogniser run>                                  # val/test CER or PER
    seqgen-eval ckpt=<synthesis run> recognizer=<recogniser run>       # legibility / intelligibility
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from seqgen.core.family import Family


class RecognizerFamily(Family):
    name = "recognizer"
    # lazy: registering the configs (`import seqgen`) imports no Lightning
    module_paths = tuple(f"seqgen.families.recognizer.module:{name}" for name in ("HandwritingRecognizer", "PhonemeRecognizer"))
    sample_options = frozenset()

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.recognizer.report import report

        return report(model, out_dir, datamodule, metrics)

    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """Test CER beside the trivial reader's (an empty transcription: every character an error, 100%)."""
        metrics = result.get("metrics") or {}
        if "test/cer" not in metrics:
            return None
        return f"test: CER {metrics['test/cer']:.1%} (best path) on real lines; reading nothing scores 100%"


FAMILY = RecognizerFamily()

__all__ = ["FAMILY", "RecognizerFamily"]
