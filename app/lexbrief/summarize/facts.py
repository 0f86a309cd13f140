"""Checkable facts, and whether a text's facts occur in its source (faithfulness).

Used twice: the pipeline checks every sentence it shows (lexbrief.summarize.grounding), and
`lexbrief eval` scores whole summaries the same way.

Checkable facts are what a reader acts on and a small model likes to invent: amounts, dates,
section references, other numbers, and party names. Each is extracted from the summary with
plain patterns, normalised (``$1,000`` = ``1000 dollars``, ``5 March 2020`` = ``March 5, 2020``,
``§ 3(a)`` = ``Section 3(a)``) and looked up in the source. The score is the share of facts found.

The extraction is heuristic on purpose (no NER model on a laptop); it is calibrated by scoring the
human reference summaries the same way (see `lexbrief eval`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lexbrief.summarize.citations import CITATION

KINDS = ("amount", "date", "section", "number", "party")

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?:[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:1[6-9]\d\d|20\d\d)"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:\s*(?:million|billion|thousand|lakh|lakhs|crore|crores|m|bn|k)\b)?"

_DATE_PATTERNS = (
    # March 5, 2020 · Mar. 5 2020
    re.compile(rf"\b(?P<month>{_MONTH})\s+(?P<day>{_DAY}),?\s+(?P<year>{_YEAR})\b", re.I),
    # 5 March 2020 · 5th March, 2020 · 5th of March 2020
    re.compile(rf"\b(?P<day>{_DAY})\s+(?:of\s+)?(?P<month>{_MONTH}),?\s+(?P<year>{_YEAR})\b",
               re.I),
    # 2020-03-05
    re.compile(rf"\b(?P<year>{_YEAR})-(?P<a>[01]?\d)-(?P<b>[0-3]?\d)\b"),
    # 05/03/2020 · 5.3.2020 · 5-3-2020 (day and month order unknown: both are tried)
    re.compile(rf"\b(?P<a>[0-3]?\d)[/.-](?P<b>[0-3]?\d)[/.-](?P<year>{_YEAR})\b"),
    # March 2020
    re.compile(rf"\b(?P<month>{_MONTH})\s*,?\s+(?P<year>{_YEAR})\b", re.I),
)
# A day and a month without the year ("April 18th", "18 April", "the 18th of April"): checked
# as a date, not as the bare number 18, which a long document nearly always has somewhere. The
# month is capitalised, so that "may 5" (the verb) is not a date.
_CAP_MONTH = r"(?:" + "|".join(sorted((m.capitalize() for m in _MONTHS), key=len,
                                      reverse=True)) + r")\.?"
_MONTH_DAY = (
    re.compile(rf"\b(?P<month>{_CAP_MONTH})\s+(?P<day>{_DAY})\b(?!\s*,?\s*\d)"),
    re.compile(rf"\b(?P<day>{_DAY})\s+(?:of\s+)?(?P<month>{_CAP_MONTH})\b(?!\s*,?\s*\d)"),
)
_AMOUNT = re.compile(
    rf"(?:(?P<cur>\$|US\$|USD|€|EUR|£|GBP|₹|INR|Rs\.?|Rupees)\s?(?P<v1>{_NUM})(?P<s1>{_SCALE})"
    rf"|(?P<v2>{_NUM})(?P<s2>{_SCALE})\s?(?P<unit>%|percent\b|per\s?cent\b|dollars\b|rupees\b"
    rf"|euros?\b|pounds\b))",
    re.I,
)
_SECTION = re.compile(
    r"(?<![^\W\d_])(?P<kind>§§?|sections?|secs?\.|ss?\.|articles?|arts?\.|clauses?|rules?"
    r"|paragraphs?|paras?\.|schedules?|chapters?|titles?|exhibits?|regulations?|orders?)[ \t]*"
    r"(?P<id>\d+[A-Za-z]?(?:\.\d+)*(?:\s?\([A-Za-z0-9]{1,4}\))*|(?-i:[IVXLC]+)\b)",
    re.I,
)
# "1. ..." or "2) ..." opening a line or following a colon: a list number, not a fact.
_ENUMERATOR = re.compile(r"(?:^|\n|:)[ \t]*(?:[-*•][ \t]*)?\d{1,2}(?:\.\d{1,2})*[.)]?[ \t]+(?=\S)")
_NUMBER = re.compile(rf"(?<![\w.,])(?:{_NUM})(?:st|nd|rd|th)?(?![\w])")
_SECTION_KIND = {
    "§": "section", "§§": "section", "section": "section", "sections": "section",
    "sec.": "section", "secs.": "section", "s.": "section", "ss.": "section",
    "article": "article", "articles": "article", "art.": "article", "arts.": "article",
    "paragraph": "paragraph", "paragraphs": "paragraph", "para.": "paragraph",
    "paras.": "paragraph",
}
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9,
           "lakh": 1e5, "lakhs": 1e5, "crore": 1e7, "crores": 1e7}

# Party names: capitalised words in a row ("Reynolds American Inc.", "State of Bombay").
_UPPER = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UPPER}](?:[^\W\d_]|['’&.-])*[^\W\d_.]\.?"
_NAME = re.compile(
    rf"(?<![\w])(?:{_WORD})(?:\s+(?:(?:of|for)(?:\s+the)?|and|de|&)?\s*{_WORD})*"
)
_ORG_SUFFIX = re.compile(
    r"\b(?:Inc|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Company|Co|LLP|LP|L\.P|PLC|GmbH|AG|SA|"
    r"N\.A|Bank|Trust|University|Association|Foundation|Partners|Holdings|Group)\.?$"
)
# Capitalised words that are not names: sentence openers, legal roles, headings.
_NOT_NAME_WORDS = """
a an the this that these those it its in on at by for to of and or but if as is are was were be
he she they we you i his her their our your my no not any all each every some such other
overview summary key points point note notes page pages pp p full text excerpt
act acts bill bills section sections article articles clause clauses rule rules chapter title
schedule exhibit paragraph subsection part agreement contract contracts terms term license
licence licensee licensor policy service services party parties court courts judge judges
justice plaintiff plaintiffs defendant defendants appellant appellants respondent respondents
petitioner petitioners applicant state states government congress senate house secretary
president department commission committee board united federal supreme
high district appeal appeals circuit order orders judgment decision opinion case cases held
however also further moreover therefore thus accordingly finally first second third
whereas provided notwithstanding pursuant under upon with without within between after before
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
who what when where why how which yes
"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


@dataclass(frozen=True)
class Fact:
    kind: str  # one of KINDS
    text: str  # as written in the summary
    key: str  # normalised form used for matching


@dataclass(frozen=True)
class FactCheck:
    fact: Fact
    supported: bool


@dataclass(frozen=True)
class Faithfulness:
    checks: tuple[FactCheck, ...]

    @property
    def total(self) -> int:
        return len(self.checks)

    @property
    def supported(self) -> int:
        return sum(c.supported for c in self.checks)

    @property
    def score(self) -> float | None:
        """Share of facts found in the source; None when the summary states no checkable fact."""
        return self.supported / self.total if self.total else None

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind -> (supported, total)."""
        out = {kind: (0, 0) for kind in KINDS}
        for c in self.checks:
            ok, total = out[c.fact.kind]
            out[c.fact.kind] = (ok + c.supported, total + 1)
        return out

    def unsupported(self) -> list[str]:
        return [f"{c.fact.kind}: {c.fact.text}" for c in self.checks if not c.supported]

    def as_dict(self) -> dict[str, object]:
        return {
            "score": None if self.score is None else round(self.score, 4),
            "supported": self.supported, "total": self.total,
            "by_kind": {k: {"supported": s, "total": t} for k, (s, t) in self.by_kind().items()},
            "unsupported": self.unsupported(),
        }


def _number_value(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _number_key(value: float) -> str:
    return f"{value:.6g}" if value != int(value) else str(int(value))


def _date_keys(match: re.Match[str]) -> list[str]:
    parts = match.groupdict()
    year = int(parts["year"])
    if parts.get("month"):
        month = _MONTHS[parts["month"].lower().rstrip(".")]
        day = parts.get("day")
        if day:
            return [f"{year:04d}-{month:02d}-{int(re.sub(r'[a-z]', '', day)):02d}"]
        return [f"{year:04d}-{month:02d}"]
    a, b = int(parts["a"]), int(parts["b"])
    if match.re is _DATE_PATTERNS[2]:
        return [f"{year:04d}-{a:02d}-{b:02d}"]
    keys = []
    if 1 <= b <= 12 and 1 <= a <= 31:
        keys.append(f"{year:04d}-{b:02d}-{a:02d}")  # day first (most of the world)
    if 1 <= a <= 12 and 1 <= b <= 31:
        keys.append(f"{year:04d}-{a:02d}-{b:02d}")  # month first (US)
    return keys


def _section_key(kind: str, ident: str) -> str:
    kind = _SECTION_KIND.get(kind.lower(), kind.lower().rstrip("s.") or "section")
    ident = "".join(ident.split()).lower()
    return f"{kind} {ident}"


def _normal_name(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _clean_name(span: str) -> str:
    span = re.sub(r"['’]s?$", "", span.strip())  # "Calvary Chapel's" names Calvary Chapel
    words = span.split()
    # Drop leading words that are only capitalised because they open a sentence or a role.
    while words and words[0].lower().strip(".,") in _NOT_NAMES:
        words.pop(0)
    while words and words[-1].lower().strip(".,") in _NOT_NAMES | {"of", "and", "for", "&"}:
        words.pop()
    return " ".join(words).strip(" ,.'’")


def extract_facts(text: str) -> list[Fact]:
    """Amounts, dates, section references, other numbers and party names in `text`, each fact
    once (a repeated invention counts once, as does a repeated true fact)."""
    unique: dict[tuple[str, str], Fact] = {}
    for fact in _facts(text):
        unique.setdefault((fact.kind, fact.key), fact)
    return list(unique.values())


def _facts(text: str) -> list[Fact]:
    text = CITATION.sub(" ", text)  # "[p. 4]" is a citation, not a fact
    facts: list[Fact] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    taken += [m.span() for m in _ENUMERATOR.finditer(text)]
    for match in _AMOUNT.finditer(text):
        value = _number_value(match.group("v1") or match.group("v2"))
        if value is None:
            continue
        scale = (match.group("s1") or match.group("s2") or "").strip().lower()
        value *= _SCALES.get(scale, 1)
        unit = (match.group("unit") or "").lower()
        prefix = "%" if unit.startswith(("%", "per")) else "$"
        facts.append(Fact("amount", match.group(0).strip(), f"{prefix}{_number_key(value)}"))
        taken.append(match.span())
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            if not free(*match.span()):
                continue
            keys = _date_keys(match)
            if keys:
                facts.append(Fact("date", match.group(0), "|".join(keys)))
                taken.append(match.span())
    for pattern in _MONTH_DAY:
        for match in pattern.finditer(text):
            day = int(re.sub(r"[a-z]", "", match.group("day")))
            if free(*match.span()) and 1 <= day <= 31:
                month = _MONTHS[match.group("month").lower().rstrip(".")]
                facts.append(Fact("date", match.group(0), f"md-{month:02d}-{day:02d}"))
                taken.append(match.span())
    for match in _SECTION.finditer(text):
        if free(*match.span()):
            facts.append(Fact("section", match.group(0),
                              _section_key(match.group("kind"), match.group("id"))))
            taken.append(match.span())
    for match in _NUMBER.finditer(text):
        if not free(*match.span()):
            continue
        raw = re.sub(r"(st|nd|rd|th)$", "", match.group(0))
        value = _number_value(raw)
        if value is not None:
            facts.append(Fact("number", match.group(0), _number_key(value)))
            taken.append(match.span())
    for match in _NAME.finditer(text):
        offset = match.start()
        # "... Ram Prasad. Bank of India ...": a full stop after a word ends the name.
        for piece in re.split(r"(?<=[a-z])\.\s+", match.group(0)):
            start = text.find(piece, offset)
            offset = start + len(piece)
            opens_sentence = start == 0 or bool(re.search(r"[.!?:;\n•*-]\s*$", text[:start]))
            name = _clean_name(piece)
            # "The State of Bombay": the name itself does not open the sentence.
            opens_sentence = opens_sentence and piece.startswith(name)
            if not re.search(r"[^\W\d_]{3}", name) or any(ch.isdigit() for ch in name):
                continue
            if _ORG_SUFFIX.fullmatch(name):
                continue  # "Niantic, Inc.": the name was "Niantic"
            if len(name.split()) == 1 and not _ORG_SUFFIX.search(name) and (
                    opens_sentence  # a capitalised word opening a sentence: just an opener
                    or text.startswith(":", offset)  # "Demonstration:": a label
                    or re.search(r"\bthe\s+$", text[:start], re.I)):  # "the Premises": a term
                continue
            facts.append(Fact("party", name, _normal_name(name)))
    return facts


@dataclass
class SourceIndex:
    """The source's facts and normalised text, built once per document."""

    text: str

    def __post_init__(self) -> None:
        self.lower = " ".join(self.text.lower().split())
        self.names = f" {_normal_name(self.text)} "
        facts = extract_facts(self.text)
        self.keys = {(f.kind, k) for f in facts for k in f.key.split("|")}
        # a full date in the source also stands for its day and month ("April 29" of a summary
        # is the source's "April 29, 2020")
        self.keys |= {("date", f"md-{k[5:]}") for kind, k in set(self.keys)
                      if kind == "date" and len(k) == 10 and k[4] == "-"}
        numbers = {_number_key(v) for m in re.finditer(_NUM, self.text)
                   if (v := _number_value(m.group(0))) is not None}
        self.numbers = numbers
        self.section_ids = {key.split(" ", 1)[1] for kind, key in self.keys if kind == "section"}

    def supports(self, fact: Fact) -> bool:
        keys = fact.key.split("|")
        if fact.kind == "party":
            return f" {fact.key} " in self.names
        if any((fact.kind, key) in self.keys for key in keys):
            return True
        if fact.kind == "date":
            # A date the source writes in a shape we do not parse: look for its parts.
            return any(self._date_parts_present(key) for key in keys)
        if fact.kind == "amount":
            return fact.key[1:] in self.numbers
        if fact.kind == "section":
            ident = fact.key.split(" ", 1)[1]
            # "Section 2" of a bill whose text numbers its sections "2. Short title".
            return ident in self.section_ids or bool(re.search(
                rf"(?:^|\n|\s)(?:sec\.?\s*)?{re.escape(ident)}[.)]\s", self.text, re.I))
        if fact.kind == "number":
            return fact.key in self.numbers
        return False

    def _date_parts_present(self, key: str) -> bool:
        parts = key.split("-")
        if len(parts) < 3:
            return False
        if parts[0] == "md":  # a day and a month: the source must have both, side by side
            month, day = int(parts[1]), int(parts[2])
            caps = "|".join(n.capitalize() for n, m in _MONTHS.items() if m == month)
            return bool(re.search(rf"\b(?:{caps})\.?\s+{day}(?:st|nd|rd|th)?\b|"
                                  rf"\b{day}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{caps})\b",
                                  self.text))
        year, month, day = (int(p) for p in parts)
        # "May" the month, not "may" the verb: month names as a date writes them
        names = [form for n, m in _MONTHS.items() if m == month
                 for form in (n.capitalize(), n.upper(), *([n] if n != "may" else []))]
        month_names = "|".join(names)
        near = re.compile(rf"(?:\b{day}(?:st|nd|rd|th)?\b[^\n]{{0,12}}\b(?:{month_names})\b"
                          rf"|\b(?:{month_names})\b[^\n]{{0,6}}\b{day}\b)[^\n]{{0,16}}\b{year}\b")
        return bool(near.search(self.text))


def faithfulness(summary: str, source: str | SourceIndex) -> Faithfulness:
    index = source if isinstance(source, SourceIndex) else SourceIndex(source)
    return Faithfulness(tuple(FactCheck(f, index.supports(f)) for f in extract_facts(summary)))
