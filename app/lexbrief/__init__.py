"""LexBrief: faithful, page-cited summaries of legal documents by a local small language model."""

__version__ = "0.1.0"
