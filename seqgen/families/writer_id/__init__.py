"""The writer-identification family: which writer of the handwriting corpus wrote a line.

    nets.py      WriterNet: BLSTM over pen offsets, pooled over time -> style embedding -> writers
    module.py    WriterClassifier: cross-entropy, accuracy, `classify(strokes) -> (probs, embeddings)`

It trains on the handwriting shards (the writers of `meta.json` `train_writers`) and is the measure
of likeness for handwriting synthesis in a writer's style (`seqgen-eval ... style=true`,
the handwriting family's style evaluation, which loads this family's checkpoints by name):

    seqgen-train experiment=writer_id_sparse hydra.run.dir=outputs/writer_id_sparse
    seqgen-eval ckpt=outputs/writer_id_sparse                          # val/test accuracy
"""

from __future__ import annotations

from seqgen.core.family import Family


class WriterIdFamily(Family):
    name = "writer_id"
    module_paths = ("seqgen.families.writer_id.module:WriterClassifier",)
    sample_options = frozenset()


FAMILY = WriterIdFamily()

__all__ = ["FAMILY", "WriterIdFamily"]
