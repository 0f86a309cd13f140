"""Document loading: real corpus files keep their pages; every kind of bad input gets a clear,
one-line reason."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from lexbrief.errors import DocumentError, PasswordRequired, ScannedDocument
from lexbrief.read import Limits, expand_inputs, load_document, sniff_kind
from lexbrief.read.ocr import OcrOptions

from conftest import DOCUMENTS, MALFORMED


def test_court_opinion_pdf_keeps_its_17_pages() -> None:
    doc = load_document(DOCUMENTS / "court-opinion-ca1.pdf")
    assert doc.kind == "pdf"
    assert doc.page_count == 17
    assert doc.pagination == "printed"
    assert "CALVARY CHAPEL OF BANGOR" in doc.page(1).text
    assert all(page.number == i + 1 for i, page in enumerate(doc.pages))
    assert len(doc.sha256) == 64
    assert doc.size == (DOCUMENTS / "court-opinion-ca1.pdf").stat().st_size
    # PDFium's soft-hyphen markers and CRLFs are cleaned away
    assert "\r" not in doc.text and "\x02" not in doc.text


def test_docx_reads_body_tables_and_page_breaks() -> None:
    doc = load_document(DOCUMENTS / "court-filing.docx")
    assert doc.kind == "docx"
    assert doc.page_count > 1 and doc.pagination == "breaks"
    assert len(doc.text.split()) > 2000


def test_docx_without_page_breaks_is_one_page_and_says_so() -> None:
    doc = load_document(DOCUMENTS / "nda-mutual-bonterms.docx")
    assert doc.page_count == 1 and doc.pagination == "none"
    assert "Mutual" in doc.text and doc.title


def test_empty_user_password_pdf_opens_without_asking() -> None:
    # It opens; its two test lines are then too short to summarize (a clear reason, not a crash).
    with pytest.raises(DocumentError, match="only 5 words"):
        load_document(MALFORMED / "encrypted-empty-password.pdf")


def test_user_password_pdf_needs_the_password() -> None:
    with pytest.raises(PasswordRequired, match="--password"):
        load_document(MALFORMED / "encrypted-user-password.pdf")
    with pytest.raises(PasswordRequired, match="not correct"):
        load_document(MALFORMED / "encrypted-user-password.pdf", password="wrong")
    with pytest.raises(DocumentError, match="only 5 words"):  # opened: the text is tiny
        load_document(MALFORMED / "encrypted-user-password.pdf", password="asdfzxcv")


def test_scanned_pdf_with_ocr_off_says_how_to_read_it() -> None:
    # With OCR on (the default) it is read: tests/test_ocr.py.
    with pytest.raises(ScannedDocument, match=r"OCR is off .* --ocr auto"):
        load_document(DOCUMENTS / "scanned-no-text-layer.pdf", ocr=OcrOptions(mode="never"))


def test_pdf_with_stray_eof_before_header_is_read() -> None:
    doc = load_document(MALFORMED / "stray-eof-before-header.pdf")
    assert doc.page_count == 5 and len(doc.text.split()) > 1000


@pytest.mark.parametrize("name", sorted(
    p.name for p in MALFORMED.iterdir() if p.name != "stray-eof-before-header.pdf"))
def test_every_malformed_file_gets_a_one_line_reason(name: str) -> None:
    with pytest.raises(DocumentError) as info:
        load_document(MALFORMED / name)
    message = info.value.message
    assert name in message
    assert "\n" not in message and len(message) < 300
    assert "Traceback" not in message


def test_text_encodings_are_detected(tmp_path: Path) -> None:
    body = "The Licensee shall pay the Licensor a fee of €1,000 within thirty (30) days. " * 3
    cases = {"utf8.txt": body.encode("utf-8"), "bom.txt": body.encode("utf-8-sig"),
             "utf16.txt": body.encode("utf-16"), "cp1252.txt": body.encode("cp1252")}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert load_document(tmp_path / name).text.strip() == body.strip(), name


def test_form_feeds_are_pages_in_text(tmp_path: Path) -> None:
    page = "Section 1. The parties agree to the terms set out below in this agreement today.\n"
    (tmp_path / "paged.txt").write_text(page + "\f" + page + "\f" + page, encoding="utf-8")
    doc = load_document(tmp_path / "paged.txt")
    assert doc.page_count == 3 and doc.pagination == "breaks"


def test_markdown_title(tmp_path: Path) -> None:
    (tmp_path / "memo.md").write_text("# Lease memo\n\n" + "The tenant pays rent monthly. " * 8)
    doc = load_document(tmp_path / "memo.md")
    assert doc.kind == "md" and doc.title == "Lease memo"


def test_html_skips_scripts_and_keeps_page_breaks(tmp_path: Path) -> None:
    html = ("<html><head><title>Order</title><style>p{}</style></head><body>"
            "<script>var secret = 1;</script><p>The court grants the motion to dismiss "
            "because the claim is time barred under the statute.</p>"
            "<div style='page-break-before: always'><p>Costs are awarded to the defendant "
            "who prevailed in this action before the court.</p></div></body></html>")
    (tmp_path / "order.html").write_text(html, encoding="utf-8")
    doc = load_document(tmp_path / "order.html")
    assert doc.title == "Order" and doc.page_count == 2
    assert "secret" not in doc.text and "motion to dismiss" in doc.page(1).text


def test_rtf_with_page_break(tmp_path: Path) -> None:
    rtf = (r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard "
           r"The seller warrants that the goods are free from defects for one year.\par"
           r"\page The buyer must inspect the goods within ten days of their delivery.\par}")
    (tmp_path / "terms.rtf").write_text(rtf, encoding="ascii")
    doc = load_document(tmp_path / "terms.rtf")
    assert doc.kind == "rtf" and doc.page_count == 2
    assert "inspect the goods" in doc.page(2).text


def test_binary_renamed_as_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DocumentError, match=r"binary|encoding|unsupported"):
        load_document(path)


def test_pdf_renamed_as_docx_is_read_as_pdf(tmp_path: Path) -> None:
    path = tmp_path / "order.docx"
    path.write_bytes((DOCUMENTS / "court-order-ca7.pdf").read_bytes())
    assert sniff_kind(path, path.read_bytes()) == "pdf"


def test_unknown_binary_type(tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(DocumentError, match="zip archive"):
        load_document(path)


def test_directory_missing_file_and_size_limit(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="is a folder"):
        load_document(tmp_path)
    with pytest.raises(DocumentError, match="no such file"):
        load_document(tmp_path / "nope.pdf")
    with pytest.raises(DocumentError, match="more than the limit"):
        load_document(DOCUMENTS / "court-opinion-ca1.pdf", limits=Limits(max_bytes=1000))
    with pytest.raises(DocumentError, match="17 pages is more than the limit of 10"):
        load_document(DOCUMENTS / "court-opinion-ca1.pdf", limits=Limits(max_pages=10))


def test_permission_denied_is_explained() -> None:
    """Read as an unprivileged user (root reads everything): a forked child drops to 'nobody'."""
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        secret = folder / "secret.pdf"
        secret.write_bytes((DOCUMENTS / "court-order-ca7.pdf").read_bytes())
        secret.chmod(0o000)
        if os.geteuid() != 0:
            with pytest.raises(DocumentError, match="permission denied"):
                load_document(secret)
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: become nobody, try to read, report the message
            message = "no error"
            try:
                os.setgid(65534)
                os.setuid(65534)
                load_document(secret)
            except DocumentError as exc:
                message = exc.message
            except BaseException as exc:
                message = f"unexpected {type(exc).__name__}: {exc}"
            finally:
                os.write(write_end, message.encode())
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        with os.fdopen(read_end) as pipe:
            message = pipe.read()
        assert "permission denied" in message
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_expand_inputs_turns_folders_into_batches(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.docx").write_bytes(b"x")
    (tmp_path / "notes.xyz").write_bytes(b"x")
    (tmp_path / "~$lock.docx").write_bytes(b"x")
    found = expand_inputs([tmp_path, Path("single.txt")])
    assert [p.name for p in found] == ["a.pdf", "b.docx", "single.txt"]
