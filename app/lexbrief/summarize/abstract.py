"""Legal abstracts: the fields a lawyer looks for first, each with its quote and page, or
"not found" — never a guess.

Every field is found by a deterministic extractor (patterns for dates, money, durations, defined
terms, governing law, court captions, dispositions...), so the same document always gives the
same abstract, whatever model runs. A value is a short piece of its quote (a date, a
jurisdiction) or the quote itself; the quote is located in the document with
`SourceText.find`, so its page is right by construction. The fields follow CUAD's category names
for contracts.

One module because the extractors share one small vocabulary of patterns (dates, money,
durations, parties) and read best as one table per kind of document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lexbrief.read.document import Document
from lexbrief.summarize.ranking import split_sentences
from lexbrief.summarize.source_text import SourceText, Span

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|"
          r"Dec\.?)")
# A blank a template leaves for the date ("[•], 2020", "[·] day of [·], 2019"): shown as it
# stands, so the lawyer sees the copy is unsigned rather than a guessed date.
_BLANK = r"\[[^\]\w]{1,7}\]"
DATE = re.compile(
    rf"{_BLANK}\s+day\s+of\s+(?:{_BLANK}|{_MONTH}),?\s+\d{{4}}\b"
    rf"|(?:{_MONTH}\s+)?{_BLANK},?\s+\d{{4}}\b"
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
    rf"|\b\d{{1,2}}\s*(?:st|nd|rd|th|t\s?h|s\s?t)?\s+(?:day\s+of\s+)?{_MONTH},?\s+\d{{4}}\b"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b", re.I)
MONEY = re.compile(r"(?:US\$|\$|USD\s?|€|EUR\s?|£)\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|"
                   r"billion|thousand))?", re.I)
_NUMBER_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
                r"twenty|thirty|forty-five|forty|sixty|ninety|\d+)")
DURATION = re.compile(
    rf"\b{_NUMBER_WORD}(?:\s*\(\d+\))?[\s-]+(?:calendar\s+|business\s+)?"
    r"(?:days?|months?|years?|weeks?)\b", re.I)
_DEFINED = re.compile(r"\(\s*(?:each\s+|individually\s+|collectively\s+)?(?:a\s+|an\s+|the\s+)?"
                      r"(?:hereinafter\s+(?:referred\s+to\s+as\s+)?)?(?:the\s+)?[\"“]([^\"”]{2,40})"
                      r"[\"”]")
_ORG = re.compile(
    r"[A-Z][A-Za-z0-9&'’.,-]*(?:\s+(?:[A-Z][A-Za-z0-9&'’.,-]*|of|and|&|de|for))*?,?\s+"
    r"(?:Inc|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Company|LLP|L\.P|LP|PLC|plc|GmbH|AG|"
    r"N\.V|S\.A|B\.V|Co|Incorporated|Bank|Trust|University|Association|Foundation)\b\.?")


@dataclass(frozen=True)
class FieldValue:
    name: str
    label: str
    value: str | None  # None: not found
    quote: str | None = None
    spans: tuple[Span, ...] = ()

    @property
    def page(self) -> int | None:
        return self.spans[0].page if self.spans else None

    def as_dict(self) -> dict[str, object] | None:
        if self.value is None:
            return None
        return {"value": self.value, "quote": self.quote, "page": self.page,
                "pages": list(dict.fromkeys(s.page for s in self.spans)),
                "spans": [{"page": s.page, "start": s.start, "end": s.end} for s in self.spans]}


@dataclass(frozen=True)
class Abstract:
    kind: str
    fields: tuple[FieldValue, ...]

    def get(self, name: str) -> FieldValue | None:
        return next((f for f in self.fields if f.name == name), None)

    def as_dict(self) -> dict[str, dict[str, object] | None]:
        return {f.name: f.as_dict() for f in self.fields}

    @property
    def found(self) -> int:
        return sum(f.value is not None for f in self.fields)

    def markdown(self) -> list[str]:
        if not self.fields:
            return []
        lines = ["## Abstract", "", "| Field | Value | Page |", "|---|---|---|"]
        for f in self.fields:
            value = (f.value or "not found").replace("|", "\\|")
            lines.append(f"| {f.label} | {value} | {f.page or ''} |")
        return lines


@dataclass(frozen=True)
class _Sentence:
    text: str
    page: int


def _sentences(document: Document, pages: range | None = None) -> list[_Sentence]:
    out: list[_Sentence] = []
    for page in document.pages:
        if pages is not None and page.number not in pages:
            continue
        for paragraph in re.split(r"\n\s*\n", page.text):
            joined = re.sub(r"(?<=[a-z])- (?=[a-z])", "", " ".join(paragraph.split()))
            for sentence in split_sentences(joined):
                if 3 <= len(sentence.split()) <= 150:
                    out.append(_Sentence(sentence, page.number))
    return out


Finder = Callable[[Document, list[_Sentence]], tuple[str, _Sentence] | None]


def _first(pattern: str, value: Callable[[str, re.Match[str]], str | None] | None = None,
           where: str = "all", avoid: str | None = None) -> Finder:
    """A finder: the first sentence (in `where`: all pages, the first two, the last two) that
    matches `pattern`; its value is `value(sentence, match)` or the sentence itself."""
    rx = re.compile(pattern, re.I)
    bad = re.compile(avoid, re.I) if avoid else None

    def find(document: Document, sentences: list[_Sentence]) -> tuple[str, _Sentence] | None:
        n = document.page_count
        scopes = {"all": [range(1, n + 1)],
                  # the opening: the first two pages, else (cover pages, an exhibit's filing
                  # header before the agreement itself) the first third of the document
                  "first": [range(1, min(n, 2) + 1), range(3, max(2, n // 3) + 1)],
                  "last": [range(max(1, n - 1), n + 1)]}[where]
        for scope in scopes:
            for sentence in sentences:
                if sentence.page not in scope:
                    continue
                match = rx.search(sentence.text)
                if match is None or (bad is not None and bad.search(sentence.text)):
                    continue
                shown = value(sentence.text, match) if value else sentence.text
                if shown:
                    return shown, sentence
        return None

    return find


def _date_in(text: str, match: re.Match[str]) -> str | None:
    """The date right after the words that introduce it ("dated as of ...")."""
    found = DATE.search(text[match.end():match.end() + 40])
    return found.group(0) if found else None


def _date_near(text: str, match: re.Match[str]) -> str | None:
    """The date next to the words that name it: "on November 28, 2018 (the “Effective Date”)"
    or "effective as of March 1, 2020"."""
    after = DATE.search(text[match.end():match.end() + 40])
    if after:
        return after.group(0)
    before = list(DATE.finditer(text[max(0, match.start() - 45):match.start()]))
    return before[-1].group(0) if before else None


def _date_or_duration(text: str, match: re.Match[str]) -> str | None:
    found = DATE.search(text) or DURATION.search(text)
    return found.group(0) if found else text


_UNTIL = re.compile(r"\b(?:expires?\s+on|continues?\s+(?:until|in)|(?:be\s+)?valid\s+until|"
                    r"for\s+so\s+long\s+as|terminate\s+on|in\s+perpetuity|until)\b[^.;]{3,140}",
                    re.I)


def _term(text: str, match: re.Match[str]) -> str | None:
    """A term must say how long: a date, a duration, or until when (else it is not the term
    clause)."""
    found = DATE.search(text, match.start()) or DURATION.search(text, match.start())
    if found:
        return found.group(0)
    until = _UNTIL.search(text, match.start())
    return " ".join(until.group(0).split()) if until else None


def _renewal_notice(text: str, match: re.Match[str]) -> str | None:
    if not re.search(r"renew|extend|extension", text, re.I) or re.search(
            r"\binsur(?:ance|ed|er)\b|\bpolic(?:y|ies)\b", text, re.I):
        return None  # notice about the end of something else (an insurance policy, a report)
    found = DURATION.search(text)
    return found.group(0) if found else text


def _duration_in(text: str, match: re.Match[str]) -> str | None:
    found = DURATION.search(text)
    return found.group(0) if found else text


def _law(text: str, match: re.Match[str]) -> str | None:
    found = re.search(r"(?i:laws?\s+of\s+(?:the\s+)?)((?i:(?:State|Commonwealth|Province|Republic)"
                      r"\s+of\s+)?[A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+)?)", text[match.start():])
    return found.group(1) if found else None


def _effect(text: str, match: re.Match[str]) -> str | None:
    phrase = re.search(r"\b(?:takes?\s+effect|shall\s+take\s+effect|on\s+or\s+after|"
                       r"effective\s+(?:on|as\s+of))\s+[^.;]{3,160}", text, re.I)
    if phrase:
        return phrase.group(0)
    found = DATE.search(text, match.start())
    return found.group(0) if found else None


def _cited_as(text: str, match: re.Match[str]) -> str | None:
    name = re.search(r"cited\s+as\s+(?:the\s+)?[\"“']?([^\"”'.]{4,150})", text, re.I)
    return name.group(1).strip() if name else text


def _judges(text: str, match: re.Match[str]) -> str | None:
    panel = re.search(r"\bBefore\b:?\s*(.{3,250}\bJudges?)\b", text)
    return panel.group(1) if panel else match.group(0)


def _money(text: str, match: re.Match[str]) -> str | None:
    found = MONEY.search(text)
    return found.group(0) if found else None


def _document_name(document: Document, sentences: list[_Sentence]
                   ) -> tuple[str, _Sentence] | None:
    if not document.pages:
        return None
    lines = [" ".join(raw.split()) for raw in document.pages[0].text.splitlines()[:40]]
    for line in lines:
        letters = [c for c in line if c.isalpha()]
        if (8 <= len(line) <= 90 and len(letters) >= 8 and sum(c.isupper() for c in letters)
                >= 0.8 * len(letters) and re.search(r"AGREEMENT|CONTRACT|LICEN[CS]E|LEASE|"
                                                   r"AMENDMENT|ADDENDUM|TERMS|MEMORANDUM",
                                                   line)):
            return line, _Sentence(line, 1)
    for line in lines[:15]:  # "Outsourcing Agreement" on a line of its own
        if re.fullmatch(r"(?:[A-Z][a-z]+\s+){0,6}(?:Agreement|Contract|Lease|License|Licence)",
                        line):
            return line, _Sentence(line, 1)
    return None


def _parties(document: Document, sentences: list[_Sentence]) -> tuple[str, _Sentence] | None:
    for sentence in sentences:
        if sentence.page > 2:
            break
        if not re.search(r"\b(?:between|by\s+and\s+among|among|by\s+and\s+between)\b",
                         sentence.text, re.I):
            continue
        names = [" ".join(m.group(0).split()).strip(" ,") for m in _ORG.finditer(sentence.text)]
        names = [re.sub(r"^(?:This|The|THIS|THE)\s+.*?\b(?:by\s+and\s+)?between\s+", "", n)
                 for n in names]
        terms = _DEFINED.findall(sentence.text)
        parties = list(dict.fromkeys(n for n in names if len(n) > 3))
        if parties:
            defined = [t for t in terms if t.lower() not in {"agreement", "effective date"}]
            value = "; ".join(parties)
            if defined:
                value += f" (defined as {', '.join(dict.fromkeys(defined))})"
            return value, sentence
    for sentence in sentences:  # no "between": the opening sentence that defines its parties
        if sentence.page > 1:
            break
        names = [" ".join(m.group(0).split()).strip(" ,") for m in _ORG.finditer(sentence.text)]
        terms = [t for t in _DEFINED.findall(sentence.text)
                 if t.lower() not in {"agreement", "effective date"}]
        parties = list(dict.fromkeys(n for n in names if len(n) > 3))
        if parties and len(terms) >= 2:
            return f"{'; '.join(parties)} (defined as {', '.join(dict.fromkeys(terms))})", \
                sentence
    return None


def _dated_line(document: Document, sentences: list[_Sentence]
                ) -> tuple[str, _Sentence] | None:
    """A date alone on one of the first lines ("January 18, 2020", or "Date" then the date)."""
    if not document.pages:
        return None
    for raw in document.pages[0].text.splitlines()[:20]:
        line = " ".join(raw.split())
        found = DATE.fullmatch(line)
        if found:
            return found.group(0), _Sentence(line, 1)
    return None


def _either(*finders: Finder) -> Finder:
    def find(document: Document, sentences: list[_Sentence]) -> tuple[str, _Sentence] | None:
        for finder in finders:
            found = finder(document, sentences)
            if found is not None:
                return found
        return None

    return find


def _caption_line(pattern: str) -> Finder:
    rx = re.compile(pattern, re.I)

    def find(document: Document, sentences: list[_Sentence]) -> tuple[str, _Sentence] | None:
        if not document.pages:
            return None
        for raw in document.pages[0].text.splitlines()[:60]:
            line = " ".join(raw.split())
            match = rx.search(line)
            if match:
                return " ".join(match.group(0).split()), _Sentence(line, 1)
        return None

    return find


def _court(document: Document, sentences: list[_Sentence]) -> tuple[str, _Sentence] | None:
    if not document.pages:
        return None
    lines = [" ".join(line.split()) for line in document.pages[0].text.splitlines()[:40]]
    for i, line in enumerate(lines):
        if re.search(r"\b(?:court|tribunal)\b", line, re.I) and not re.search(
                r"\b(?:appeal from|on appeal|filed|v\.)\b", line, re.I) and len(line) < 90:
            name = line
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if re.match(r"(?:for|of)\s+the\s+\w+", nxt, re.I):
                name = f"{line} {nxt}"
            return name, _Sentence(line, 1)
    return None


def _case_name(document: Document, sentences: list[_Sentence]) -> tuple[str, _Sentence] | None:
    if not document.pages:
        return None
    text = " ".join(document.pages[0].text.split())
    match = re.search(r"([A-Z][A-Z0-9&.,'’ -]{2,80}?),\s+(?:et\s+al\.,?\s+)?(?:Plaintiffs?|"
                      r"Petitioners?|Appellants?|Appellees?)[-,\sA-Za-z]*?\s+v\.\s+"
                      r"([A-Z][A-Z0-9&.'’ -]{2,80}?),", text)
    if not match:
        match = re.search(r"([A-Z][\w.&'’-]*(?:\s+[A-Z][\w.&'’-]*){0,5})\s+v\.\s+"
                          r"([A-Z][\w.&'’-]*(?:\s+[A-Z][\w.&'’-]*){0,5})", text)
    if not match:
        return None
    value = f"{' '.join(match.group(1).split()).strip(' ,')} v. " \
            f"{' '.join(match.group(2).split()).strip(' ,')}"
    return value, _Sentence(match.group(0), 1)


FIELDS: dict[str, list[tuple[str, str, Finder]]] = {
    "contract": [
        ("document_name", "Document name", _document_name),
        ("parties", "Parties", _parties),
        ("agreement_date", "Agreement date", _either(_first(
            r"\b(?:dated|made|entered\s+into|executed)\b[^.]{0,60}?(?:as\s+of|on|this)\b",
            _date_in, "first"), _dated_line)),
        ("effective_date", "Effective date", _first(
            r"[\"“]Effective\s+Date[\"”]|\beffective\s+(?:as\s+of|on)\b|shall\s+become\s+"
            r"effective", _date_near, "first")),
        ("expiration", "Expiration / term", _first(
            r"\b(?:shall\s+expire|will\s+expire|expire[sd]?\s+on|initial\s+term|term\s+of\s+"
            r"this\s+(?:agreement|contract)\s+(?:shall|will|is)|(?:shall|will)\s+(?:continue|"
            r"remain)\s+(?:in\s+(?:full\s+)?(?:force|effect)\s+)?(?:until|for)|(?:shall|will)\s+"
            r"terminate\s+on|term\s+(?:of\s+this\s+agreement|thereof)\b[^.]{0,120}\bcommenc\w*"
            r"|(?:shall|will)\s+(?:become\s+effective|commence)\b[^.]{0,120}\b(?:continue|"
            r"valid\s+until|expire))\b", _term)),
        ("renewal", "Renewal", _first(
            r"\b(?:automatically\s+(?:renew|extend)|auto-renew|renewal\s+term|successive\s+"
            r"(?:\w+\s+){0,3}(?:periods?|terms?)|shall\s+be\s+renewed|renew(?:ed)?\s+for)",
            _duration_in)),
        ("notice_to_terminate_renewal", "Notice to terminate renewal", _first(
            r"\b(?:notice|notif\w+)\b[^.]{0,150}\b(?:prior\s+to|before|in\s+advance\s+of|"
            r"preceding)\b[^.]{0,80}\b(?:expiration|end|renewal|term)\b"
            r"|\bnot\s+to\s+renew\b|\bnon-?renewal\b", _renewal_notice)),
        ("governing_law", "Governing law", _first(
            r"\b(?:governed|construed)\b[^.]{0,200}\blaws?\s+of\b", _law)),
        ("payment", "Payment", _first(
            r"\b(?:shall|will|agrees?\s+to)\s+pay\b|\bfees?\b[^.]{0,60}\$|\bpayable\b",
            _money)),
        ("liability_cap", "Liability cap", _first(
            r"\b(?:aggregate|total|maximum|entire)\s+liability\b|\bliability\b[^.]{0,80}\b"
            r"(?:shall\s+not\s+exceed|exceed|limited\s+to)\b|\bin\s+no\s+event\b[^.]{0,80}"
            r"\bliable\b")),
        ("indemnification", "Indemnification", _first(
            r"\bindemnif(?:y|ies|ied|ication)\b[^.]{0,200}\b(?:against|from|harmless)\b")),
        ("assignment", "Assignment / change of control", _first(
            r"\b(?:may|shall)\s+not\s+(?:\w+\s+){0,3}assign\b|\bchange\s+(?:of|in)\s+control\b"
            r"|\bassign(?:ment)?\b[^.]{0,80}\bwithout\s+(?:the\s+)?(?:prior\s+)?written\s+"
            r"consent\b")),
        ("confidentiality", "Confidentiality", _first(
            r"\bconfidential\s+information\b[^.]{0,200}\b(?:shall|will|agrees?)\b[^.]{0,80}\b"
            r"(?:not\s+disclose|keep|hold|maintain|protect)\b")),
    ],
    "court_opinion": [
        ("court", "Court", _court),
        ("case_name", "Case name", _case_name),
        ("docket_number", "Docket number", _caption_line(
            r"\b(?:No|Nos|Docket\s+No|Case\s+No)\.?:?\s*\d{1,2}[-–]\d{2,6}(?:[-–]\w+)*")),
        ("decision_date", "Decision date", _first(
            r"\b(?:decided|filed|entered|dated|issued)\b:?", _date_in, "first")),
        ("judges", "Judges", _first(
            r"\bBefore\b[^.]{0,250}?\bJudges?\b|\b(?:Circuit|District|Chief)\s+Judges?\b",
            _judges, where="first")),
        ("procedural_posture", "Procedural posture", _first(
            r"\b(?:appeals?\s+from|on\s+appeal\s+from|petition\s+for\s+review|motion\s+for|"
            r"denied|granted)\b[^.]{0,120}\b(?:order|judgment|motion|decision|court)\b")),
        ("question_presented", "Question presented", _first(
            r"\b(?:the\s+question\s+(?:presented|before\s+us|is)|we\s+(?:must\s+)?(?:decide|"
            r"consider)\s+whether|at\s+issue\s+is\s+whether|the\s+issue\s+is\s+whether)\b")),
        ("holding", "Holding", _first(
            r"\bwe\s+(?:hold|conclude|find)\b|\b(?:it\s+is\s+)?held\s+that\b")),
        ("disposition", "Disposition", _first(
            r"\b(?:AFFIRMED|REVERSED|VACATED|DISMISSED|REMANDED)\b|\b(?:we|the\s+court)\s+"
            r"(?:affirm|reverse|vacate|dismiss|remand)\b|\bappeal\s+is\s+(?:dismissed|denied)\b"
            r"|\bis\s+(?:hereby\s+)?(?:affirmed|reversed|vacated|dismissed)\b", where="last")),
    ],
    "legislation": [
        ("title", "Title", _first(
            r"\bmay\s+be\s+cited\s+as\b|\bshort\s+title\b|^An?\s+(?:Act|Bill)\b", _cited_as)),
        ("purpose", "Purpose", _first(
            r"\b(?:the\s+purposes?\s+of\s+this|it\s+is\s+the\s+purpose|^To\s+(?:amend|provide|"
            r"establish|require|authorize|prohibit))\b")),
        ("key_definitions", "Key definitions", _first(
            r"\bthe\s+term\s+[\"“'‘][^\"”'’]{2,40}[\"”'’]\s+means\b|[\"“][^\"”]{2,40}[\"”]\s+"
            r"means\b")),
        ("obligations", "Obligations", _first(
            r"\b(?:shall|must)\s+(?!not\s+be\s+construed)(?:\w+\s+){0,2}(?:submit|report|"
            r"establish|provide|ensure|require|issue|carry|conduct|make|publish|notify|develop)\b",
            avoid=r"\bmay\s+be\s+cited\b")),
        ("penalties", "Penalties", _first(
            r"\b(?:civil\s+penalty|criminal\s+penalty|shall\s+be\s+fined|imprison\w*|penalt(?:y|"
            r"ies)\s+of|fine\s+of)\b")),
        ("effective_date", "Effective date", _first(
            r"\b(?:shall\s+take\s+effect|takes?\s+effect|appl(?:y|ies)\s+to\b[^.]{0,120}"
            r"\bon\s+or\s+after)\b", _effect)),
    ],
    "notice": [
        ("document_type", "Document", _caption_line(
            r"^(?:NOTICE\b.*|O\s?R\s?D\s?E\s?R\b.*|ORDER\b.*|SCHEDULING\s+ORDER.*|"
            r"DOCKETING\s+.*|SUMMONS\b.*|SUBPOENA\b.*|MINUTE\s+ENTRY.*)$")),
        ("issued_by", "Issued by", _court),
        ("case_number", "Case number", _caption_line(
            r"\b(?:No|Nos|Docket\s+No|Case\s+No)\.?:?\s*\d{1,2}[-–:]\d{2,6}(?:[-–]\w+)*")),
        ("date", "Date", _first(DATE.pattern, lambda text, m: m.group(0), "first")),
        ("requirement", "What it requires", _first(
            r"\b(?:ORDERS?|is\s+due|are\s+due|shall\s+(?:file|serve|appear|submit|pay)|must\s+"
            r"(?:file|serve|appear|submit|pay)|is\s+directed|are\s+directed|required\s+to)\b")),
        ("deadline", "Deadline", _first(
            r"\b(?:due|on\s+or\s+before|no\s+later\s+than|within\s+\S+\s+(?:\(\d+\)\s+)?days|"
            r"deadline)\b", _date_or_duration)),
    ],
}
FIELDS["general"] = []


def extract_abstract(kind: str, document: Document, source: SourceText) -> Abstract:
    """The fields of `kind` (a template name) for this document."""
    specs = FIELDS.get(kind, [])
    sentences = _sentences(document)
    values: list[FieldValue] = []
    for name, label, finder in specs:
        found = finder(document, sentences)
        if found is None:
            values.append(FieldValue(name, label, None))
            continue
        value, sentence = found
        match = source.find(sentence.text, sentence.page, min(document.page_count,
                                                              sentence.page + 1))
        if match is None:  # a caption line too short to quote: the line, then the value
            match = source.find(sentence.text, sentence.page, sentence.page, short=True) \
                or source.find(value, sentence.page, sentence.page, short=True)
        if match is None:
            values.append(FieldValue(name, label, None))  # never shown without its quote
            continue
        values.append(FieldValue(name, label, " ".join(value.split()), match.text, match.spans))
    return Abstract(kind, tuple(values))
