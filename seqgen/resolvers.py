"""OmegaConf resolvers of seqgen's configs, registered when `seqgen` is imported.

    ${seqgen_run_id:}             <pid>-<random>: unique run folder names (conf/hydra/default.yaml)
    ${seqgen_corpus_key:<path>}   <stem>-<hash of path and content>: one data folder per corpus

The functions behind them are imported when a config first resolves one, so `import seqgen`
(which every module does) loads no other seqgen module.
"""

from __future__ import annotations


def _run_id() -> str:
    from seqgen.training.run_lock import run_id

    return run_id()


def _corpus_key(path: str) -> str:
    from seqgen.data.identity import corpus_key

    return corpus_key(path)


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("seqgen_run_id"):
        OmegaConf.register_new_resolver("seqgen_run_id", _run_id)
    if not OmegaConf.has_resolver("seqgen_corpus_key"):
        OmegaConf.register_new_resolver("seqgen_corpus_key", _corpus_key)
