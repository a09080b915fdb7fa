"""OmegaConf resolvers of seqgen's configs, registered when `seqgen` is imported.

    ${seqgen_run_id:}             <pid>-<random>: unique run folder names (conf/hydra/default.yaml)
    ${seqgen_corpus_key:<path>}   <stem>-<hash of path and content>: one data folder per corpus
"""

from __future__ import annotations


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    from seqgen.data.identity import corpus_key
    from seqgen.training.run_lock import run_id

    if not OmegaConf.has_resolver("seqgen_run_id"):
        OmegaConf.register_new_resolver("seqgen_run_id", run_id)
    if not OmegaConf.has_resolver("seqgen_corpus_key"):
        OmegaConf.register_new_resolver("seqgen_corpus_key", corpus_key)
