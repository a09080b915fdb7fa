"""The recogniser family: online handwriting recognition (Graves et al. 2009), the measure of legibility.

    nets.py      RecognizerNet: bidirectional LSTM over pen offsets, CTC output layer
    module.py    HandwritingRecognizer: CTC loss, CER metric, `read(strokes) -> texts`
    decode.py    best path and prefix beam search, CER (torchmetrics)
    report.py    recognizer.md: CER and transcriptions of real test lines

It trains on the handwriting shards (seqgen/data/handwriting, `data=handwriting_hershey` or
`iam_ondb`) with the handwriting datamodule:

    seqgen-train experiment=recognizer_quickstart
    seqgen-eval ckpt=<recogniser run>                                  # val/test CER
    seqgen-eval ckpt=<synthesis run> recognizer=<recogniser run>       # legibility (seqgen/eval/legibility.py)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.core.family import Family
from seqgen.families.recognizer.module import HandwritingRecognizer


class RecognizerFamily(Family):
    name = "recognizer"
    module_classes = (HandwritingRecognizer,)
    sample_options = frozenset()

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.recognizer.report import report

        return report(model, out_dir, datamodule, metrics)


FAMILY = RecognizerFamily()

__all__ = ["FAMILY", "HandwritingRecognizer", "RecognizerFamily"]
