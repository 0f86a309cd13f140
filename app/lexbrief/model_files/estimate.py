"""What a model would do to a 50-page contract on this computer: the time (an estimate from the
fit model's speeds, or measured once the model has run here), and its licence in plain words.

The 50-page contract is a real one: `contract-license-cytodyn.pdf` of the test corpus, 50 pages,
35,686 tokens in SmolLM2's tokenizer, read by the pipeline in 22 excerpts (docs/BENCHMARKS.md).
With the default budgets the model reads the excerpts plus instructions, then the notes again
for the final summary (about 43,000 tokens), and writes 22 notes and a summary (about 4,800
tokens: ~200 per note, ≤ 512 for the summary). Other tokenizers count within ~10% of this for
English text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lexbrief.machine.telemetry.speed import duration_text

CONTRACT_PAGES = 50
CONTRACT_READ_TOKENS = 43_000
CONTRACT_WRITTEN_TOKENS = 4_800


@dataclass(frozen=True)
class TimeEstimate:
    seconds: float
    measured: bool  # from this model's own runs on this computer
    reading_tps: float
    writing_tps: float
    runs: int = 0  # the runs measured

    @property
    def text(self) -> str:
        if self.measured:
            return f"{duration_text(self.seconds)} (measured here)"
        return f"about {duration_text(self.seconds)} (estimate)"

    @property
    def detail(self) -> str:
        how = (f"measured in {self.runs} summar{'y' if self.runs == 1 else 'ies'} on this "
               "computer" if self.measured and self.runs else "measured by this computer's "
               "calibration of the model (raw llama.cpp; a first summary replaces it)"
               if self.measured else "estimated from the model's size and this "
               "computer's cores and memory (it is replaced by a measured figure once the model "
               "has summarized a document here)")
        return (f"A {CONTRACT_PAGES}-page contract: about {CONTRACT_READ_TOKENS:,} tokens read "
                f"at {self.reading_tps:,.0f} tok/s and {CONTRACT_WRITTEN_TOKENS:,} written at "
                f"{self.writing_tps:,.1f} tok/s, {how}.")


def contract_time(reading_tps: float, writing_tps: float, *, measured: bool = False,
                  runs: int = 0) -> TimeEstimate:
    seconds = (CONTRACT_READ_TOKENS / max(reading_tps, 1e-9)
               + CONTRACT_WRITTEN_TOKENS / max(writing_tps, 1e-9))
    return TimeEstimate(seconds, measured, reading_tps, writing_tps, runs)


def measured_rates(db: object, model_file: str) -> tuple[float, float, int] | None:
    """(reading tok/s, writing tok/s, runs) of `model_file` in this computer's cost ledger:
    total tokens over total seconds of reading and of writing, from each run's record. Runs
    where a reading model read the document (issue 17) are left out: their rates are mostly
    the reader's, not this model's."""
    table = db["run_records"]  # type: ignore[index]
    if not table.exists():
        return None
    read_tokens = read_seconds = written_tokens = written_seconds = 0.0
    runs = 0
    for row in db.query(  # type: ignore[attr-defined]
            "SELECT r.prompt_tokens, r.completion_tokens, r.hardware FROM run_records r "
            "LEFT JOIN summaries s ON s.id = r.summary_id WHERE r.model_name = ? AND "
            "(s.parameters IS NULL OR json_extract(s.parameters, '$.reader_model') IS NULL)",
            [model_file]):
        try:
            record = json.loads(row["hardware"] or "{}")
        except ValueError:
            continue
        reading = record.get("prompt_tokens_per_second")
        writing = record.get("generation_tokens_per_second")
        computed = row["prompt_tokens"] - int(record.get("cached_prompt_tokens") or 0)
        if not reading or not writing or computed <= 0 or row["completion_tokens"] <= 0:
            continue
        read_tokens += computed
        read_seconds += computed / reading
        written_tokens += row["completion_tokens"]
        written_seconds += row["completion_tokens"] / writing
        runs += 1
    if not runs:
        return None
    return read_tokens / read_seconds, written_tokens / written_seconds, runs


LICENCES = {
    "apache-2.0": "Apache 2.0 — free for any use, including commercial",
    "mit": "MIT — free for any use, including commercial",
    "llama3.2": "Llama 3.2 Community Licence — free use, including commercial, under Meta's "
                "terms (an acceptable-use policy; services with over 700 million monthly users "
                "need Meta's permission)",
    "gemma": "Gemma Terms of Use — free use, including commercial, under Google's terms (a "
             "prohibited-use policy)",
    "qwen-research": "Qwen Research Licence — research and non-commercial use only",
}


def licence_words(licence: str) -> str:
    """A licence id of the catalog in plain words (the id itself when it is not known here)."""
    return LICENCES.get(licence.lower(), f"{licence} — read its terms before use")
