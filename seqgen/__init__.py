"""seqgen: generating sequences with recurrent neural networks (after Graves, arXiv 1308.0850)."""

__version__ = "0.1.0"
