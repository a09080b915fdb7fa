"""The core every model family builds on (docs/architecture.md):

    family.py       the `Family` contract and the registry (family name -> its `Family` object)
    module.py       `SeqModule`, the Lightning base of every family module
    datamodule.py   `ShardDataModule`, the base of every family datamodule (prepared shards)
    checkpoints.py  checkpoint metadata, safe loading (weights only, class from the family's allow-list)
    prepare.py      the one `prepare` driver: splits, shard writing, reused shards, meta.json, the report

The core imports only the shared layers (`errors`, `io`, `data`, ...); families import the core;
training, evaluation, serving, sweeps and the CLI sit above the families. Importing this package
imports nothing else, so `seqgen-prepare` does not pull in Lightning.
"""
