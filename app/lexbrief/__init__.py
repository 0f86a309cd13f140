"""LexBrief: faithful, page-cited summaries of legal documents by a local small language model."""

__version__ = "0.1.0"

# Nothing leaves the machine: huggingface_hub must not send telemetry, whoever imports it first.
import os as _os

_os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
