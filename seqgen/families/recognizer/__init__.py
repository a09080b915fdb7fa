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
from typing import Any, Mapping, Optional

from seqgen.core.family import Family
from seqgen.families.recognizer.module import HandwritingRecognizer


class RecognizerFamily(Family):
    name = "recognizer"
    module_classes = (HandwritingRecognizer,)
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

__all__ = ["FAMILY", "HandwritingRecognizer", "RecognizerFamily"]
