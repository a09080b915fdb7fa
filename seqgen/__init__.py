"""seqgen: generating sequences with recurrent neural networks (after Graves, arXiv 1308.0850)."""

__version__ = "0.1.0"

from seqgen.resolvers import register_resolvers as _register_resolvers

_register_resolvers()  # ${seqgen_run_id:}, ${seqgen_corpus_key:...} in conf/

from seqgen.core.family import register_builtin_configs as _register_configs

_register_configs()  # the families' typed configs (seqgen/core/config.py), named by the YAML in conf/
