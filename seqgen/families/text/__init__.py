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
from typing import Any, Mapping, Optional

from seqgen.core.family import Family, program, versus
from seqgen.families.text.config import TextSampleOptions


class TextFamily(Family):
    name = "text"
    module_paths = ("seqgen.families.text.module:TextLSTM",)  # lazy: `prepare` imports no Lightning
    sample_schema = TextSampleOptions

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

    def headline(self, result: Mapping[str, Any]) -> Optional[str]:
        """Test bits per character beside PPMd (the best compressor in the table) on the same bytes."""
        bpc = (result.get("metrics") or {}).get("test/bpc")
        table = result.get("compression") or {}
        compressors = table.get("compressors") or {}
        if bpc is None or not compressors:
            return None
        best = "ppmd" if "ppmd" in compressors else min(compressors, key=compressors.get)
        from seqgen.eval.compression import COMPRESSOR_LABELS

        return (
            f"test: {bpc:.3f} bits per character; {COMPRESSOR_LABELS.get(best, best)} {compressors[best]:.3f} on the same "
            f"{table.get('test_bytes', 0):,} test bytes ({versus(bpc, compressors[best])})"
        )

    def next_commands(self, run: str, result: Mapping[str, Any]) -> list[str]:
        return [
            f"{program('seqgen-sample')} ckpt={run} temperature=0.7 length=400",  # the default prime, when the corpus has it
            f"{program('seqgen-eval')} ckpt={run}",
        ]

    def dynamic_task(self, model: Any, datamodule: Any) -> Any:
        from seqgen.families.text.dynamic import TextDynamicTask

        return TextDynamicTask(model, datamodule)


FAMILY = TextFamily()
