"""The map step's answer format: a JSON list of notes, each a point and the quote that proves it.

An engine that enforces grammars (`Abilities.grammar`) samples only replies that follow
`NOTES_GRAMMAR`, so even a 135M model cannot break the shape; the strings are bounded so that a
run-on note ends. `parse_notes` reads any reply leniently (a reply cut at its token budget keeps
its complete notes; an engine without grammars may wrap the JSON in prose).
"""

from __future__ import annotations

import json
import re

MAX_NOTES = 5
MAX_POINT_CHARS = 200
MAX_QUOTE_CHARS = 300

# The grammar of the reply after NOTES_PREFILL (the opening of the first note's quote).
NOTES_GRAMMAR = rf"""root ::= quoterest "," ws "\"point\":" ws point ws "}}" more ws "]"
more ::= ("," ws note){{0,{MAX_NOTES - 1}}}
note ::= "{{" ws "\"quote\":" ws "\"" quoterest "," ws "\"point\":" ws point ws "}}"
quoterest ::= chr{{20,{MAX_QUOTE_CHARS}}} "\""
point ::= "\"" chr{{8,{MAX_POINT_CHARS}}} "\""
chr ::= [^"\\\x00-\x1f\[\]{{}}] | "\\" ["\\/]
ws ::= [ \n]?
"""

NOTES_INSTRUCTION = (
    f"Answer with a JSON list of at most {MAX_NOTES} notes. In each note, \"quote\" is one "
    "important sentence copied word for word from the excerpt, and \"point\" says in a few "
    "plain words what that sentence means. Write nothing that the excerpt does not say."
)
# The reply starts here (an assistant prefill): the model's first act is to copy a sentence.
NOTES_PREFILL = '[\n{"quote": "'


_NOTE = re.compile(
    r'"quote"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"point"\s*:\s*"((?:[^"\\]|\\.)*)"', re.S)


def _unescape(text: str) -> str:
    try:
        value = json.loads(f'"{text}"')
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, str) else text


def parse_notes(reply: str) -> list[tuple[str, str]]:
    """(point, quote) pairs of a reply; complete notes only."""
    start = reply.find("[")
    if start >= 0:
        try:
            data = json.loads(reply[start:reply.rfind("]") + 1])
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            notes = [(str(item.get("point", "")), str(item.get("quote", "")))
                     for item in data if isinstance(item, dict)]
            if notes:
                return notes
    return [(_unescape(point), _unescape(quote)) for quote, point in _NOTE.findall(reply)]
