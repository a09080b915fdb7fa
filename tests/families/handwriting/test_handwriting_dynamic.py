"""Dynamic evaluation of handwriting prediction: nats per line, static == the Lightning figure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handwriting_helpers import tiny_hw_data  # noqa: F401  (fixture)
from seqgen.data.handwriting.batch import collate_lines
from seqgen.families.handwriting.datamodule import HandwritingDataModule
from seqgen.errors import SeqgenError
from seqgen.eval.dynamic import DynamicSettings, run_dynamic
from seqgen.core.family import get_family
from seqgen.families.handwriting.module import HandwritingPrediction, HandwritingSynthesis
from seqgen.nn.mdn import mixture_nll


pytestmark = pytest.mark.usefixtures("one_thread")


def test_prediction_scores_per_line_and_adapts(tiny_hw_data: Path) -> None:  # noqa: F811
    dm = HandwritingDataModule(str(tiny_hw_data / "handwriting_hershey"), batch_size=4, num_workers=0)
    info = dm.load_info()
    torch.manual_seed(0)
    model = HandwritingPrediction(info, hidden_size=16, num_layers=2, mixture_components=3).eval()
    task = get_family("handwriting").dynamic_task(model, dm)
    settings = DynamicSettings("rms", lr=3e-3, decay=0.0, segment_length=15, stats_units=300)

    lines = dm.read_lines("test", 1000)
    with torch.no_grad():
        batch = collate_lines(lines)
        params, _ = model.core(batch.inputs)
        expected = float(mixture_nll(params, batch.targets, batch.target_mask, reduction="sum")) / len(lines)
    static = task.score("test", settings, None, adapt=False)
    assert static == pytest.approx(expected, rel=1e-4), "segments with the state carried = the whole line at once"

    outcome = run_dynamic(task, settings, say=lambda _: None)
    metrics = outcome["metrics"]
    assert metrics["test/nll_static"] == pytest.approx(static)
    assert metrics["test/nll_dynamic"] < 0.97 * static, "an untrained network learns the strokes as it reads them"
    with pytest.raises(SeqgenError, match="prediction"):
        get_family("handwriting").dynamic_task(HandwritingSynthesis(info, hidden_size=8, num_layers=1, mixture_components=2,
                                                                    window_components=1), dm)
