"""The text family (Graves 2013, Sec. 3): character/byte-level prediction with an LSTM stack.

    module.py      TextLSTM: loss (nats per symbol), BPC metrics, forward
    prepare.py     corpus -> shards (text sources: seqgen/data/text/corpora.py)
    datamodule.py  truncated-BPTT segments for training, whole streams for evaluation
    generate.py    sampling (prime, temperature), `seqgen-sample`, previews
    report.py      the LSTM's real compressed size next to general-purpose compressors (compression.md)
    stepper.py     the model one symbol at a time for B streams (the compressor's loop)
    codec.py       the model as a compressor: range coding, the .sqz format (seqgen-compress)
    dynamic.py     dynamic evaluation of text (seqgen/eval/dynamic.py), the compressor's layout
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from seqgen.core.family import Family


class TextFamily(Family):
    name = "text"
    module_paths = ("seqgen.families.text.module:TextLSTM",)  # lazy: `prepare` imports no Lightning
    sample_options = frozenset({"prime", "length", "temperature"})

    def generate(self, model: Any, cfg: Any, out_dir: Path) -> dict[str, Any]:
        from seqgen.families.text.generate import sample_command

        return sample_command(model, cfg, out_dir)

    def preview(self, model: Any, datamodule: Any, out_dir: Path, tag: str) -> dict[str, Any]:
        from seqgen.families.text.generate import preview

        return preview(model, out_dir, tag)

    def figures(self, model: Any, run_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.text.generate import run_samples

        from seqgen.families.text.report import report

        run_samples(model, run_dir)
        return report(model, run_dir, datamodule, metrics, code=False)  # coding the test split: seqgen-eval

    def report(self, model: Any, out_dir: Path, datamodule: Any, metrics: Mapping[str, float]) -> dict[str, Any]:
        from seqgen.families.text.report import report

        return report(model, out_dir, datamodule, metrics)

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        from seqgen.families.text.dynamic import TextDynamicTask

        return TextDynamicTask(model, datamodule)


FAMILY = TextFamily()
