"""`seqgen-prepare`: turn a corpus into WebDataset shards + manifest.json + meta.json.

    seqgen-prepare data=text_embedded
    seqgen-prepare data=enwik8 data.corpus.root=/datasets/enwik8
    seqgen-prepare data=text_file data.corpus.path=input.txt
"""

from __future__ import annotations

import json

from hydra.utils import instantiate
from omegaconf import DictConfig

from seqgen.cli.common import say, seqgen_main, start
from seqgen.errors import SeqgenError, friendly_errors


@friendly_errors
def run(cfg: DictConfig) -> dict:
    start(cfg, "prepare")
    if "prepare" not in cfg.data:
        raise SeqgenError(f"data={cfg.data.get('name')} has no prepare step")
    summary = instantiate(cfg.data.prepare, _recursive_=True)
    say(json.dumps(summary, indent=2))
    say(f"[seqgen] prepare finished. Shards: {summary.get('out_dir')}")
    return summary


@seqgen_main("prepare")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
