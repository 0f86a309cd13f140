"""OCR of scanned documents with the real engine (RapidOCR's PP-OCRv6 models on ONNX Runtime) on
real scans: the corpus's scanned court opinion, and scans made from the corpus's text PDFs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled, DocumentError, ScannedDocument, UserFacingError
from lexbrief.read import load_document
from lexbrief.read.document import Document, Page
from lexbrief.read.layout import is_page_number
from lexbrief.read.ocr import REC_MODEL, REC_MODEL_INT8, OcrOptions, OcrProgress, model_files
from lexbrief.summarize.chunking import chunk_document, ocr_notes, verify_coverage
from lexbrief.tools.bench.scans import (
    cer,
    degrade,
    gaussian_noise,
    image_pdf,
    jpeg,
    layer_in_reading_order,
    render_page,
)

from conftest import DOCUMENTS

OPINION = DOCUMENTS / "court-opinion-ca1.pdf"
SCANNED = DOCUMENTS / "scanned-no-text-layer.pdf"
CONTRACT = DOCUMENTS / "contract-service-reynolds.pdf"


def _layer(index: int) -> str:
    return load_document(OPINION, ocr=OcrOptions(mode="never")).pages[index].text


@pytest.fixture(scope="module")
def scanned() -> Document:
    return load_document(SCANNED, ocr=OcrOptions(cache=False))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Document]:
    """The court opinion's pages 1, 3 and 4, the middle one as a 300-dpi scan."""
    path = tmp_path_factory.mktemp("mixed") / "mixed.pdf"
    path.write_bytes(image_pdf([(OPINION, 0), render_page(OPINION, 2), (OPINION, 3)]))
    return path, load_document(path, ocr=OcrOptions(cache=False))


def test_the_int8_recogniser_is_used_where_the_installer_put_it(tmp_path: Path) -> None:
    """The installers ship the recogniser with int8 MatMuls (packaging/ocr_models.py) in place
    of the float one; a dev venv has only the float one."""
    assert model_files(tmp_path)["Rec"] == REC_MODEL
    (tmp_path / REC_MODEL_INT8).write_bytes(b"onnx")
    assert model_files(tmp_path) == {"Det": "PP-OCRv6_det_small.onnx", "Rec": REC_MODEL_INT8,
                                     "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}


def test_scanned_pdf_is_read_page_by_page(scanned: Document) -> None:
    assert scanned.page_count == 2
    first, second = scanned.pages
    assert "TARRANT REGIONAL WATER DISTRICT" in first.text
    assert "The Red River Compact (or Compact) is a congressionally sanctioned" in first.text
    # a line the page pass garbles is read again on its own
    assert 'cubic feet per second (CFS) or more, "provided no state is entitled to' in first.text
    # a word hyphenated at the line end is mended
    assert "located in Oklahoma's" in first.text
    # the running header is its own paragraph, not glued to the body
    assert second.text.split("\n\n")[0] == "2 TARRANT REGIONAL WATER DIST. v. HERRMANN"
    assert "Knowing that the OWRB would likely deny its permit" in second.text
    for page in scanned.pages:
        assert page.ocr_confidence is not None and page.ocr_confidence > 0.9


def test_coverage_reports_ocr_pages_and_confidence(scanned: Document, fake_engine) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk_document(scanned, fake_engine.count_tokens, fake_engine.split_by_tokens, 512)
    coverage = verify_coverage(scanned, chunks, fake_engine.count_tokens)
    assert coverage.tokens_dropped == 0
    ocr = coverage.as_dict()["ocr"]
    assert ocr["pages"] == [1, 2]
    assert 0.9 < ocr["mean_confidence"] <= 1.0
    assert ocr["low_confidence_pages"] == [] and ocr["empty_pages"] == []
    assert ocr_notes(coverage.as_dict())[0].startswith("OCR: 2 pages, mean confidence 9")


def test_mixed_pdf_uses_the_text_layer_where_it_exists(mixed: tuple[Path, Document]) -> None:
    _, doc = mixed
    assert [p.ocr_confidence is not None for p in doc.pages] == [False, True, False]
    assert doc.page(1).text == _layer(0) and doc.page(3).text == _layer(3)
    # the goal on clean 300-dpi scans: at most 3% of characters wrong
    assert cer(layer_in_reading_order(OPINION, 2), doc.page(2).text, spaces=False) <= 0.03
    paragraphs = doc.page(2).text.split("\n\n")
    assert "20-1507" in paragraphs[0]  # the court's filing header, read as its own paragraph
    assert is_page_number(paragraphs[-1]) and "3" in paragraphs[-1]  # "- 3 -" at the foot
    # page-true: page 2's words are cited on page 2, not on its neighbours
    phrase = "jurisdictional barrier looms at the threshold"
    assert phrase in doc.page(2).text
    assert phrase not in doc.page(1).text and phrase not in doc.page(3).text


def test_ocr_never_and_always(mixed: tuple[Path, Document]) -> None:
    path, _ = mixed
    with pytest.raises(ScannedDocument, match="OCR is off"):
        load_document(SCANNED, ocr=OcrOptions(mode="never"))
    unread = load_document(path, ocr=OcrOptions(mode="never"))
    assert [p.ocr_skipped for p in unread.pages] == [False, True, False]
    assert unread.page(2).text == ""
    chunks = chunk_document(unread, lambda t: len(t.split()), lambda t, n: [t], 4096)
    coverage = verify_coverage(unread, chunks, lambda t: len(t.split()))
    assert coverage.as_dict()["ocr"]["skipped_pages"] == [2]
    assert "p. 2: scanned, not read (OCR off)" in ocr_notes(coverage.as_dict())
    text_only = image_pdf([(OPINION, 0)])
    one = path.with_name("one.pdf")
    one.write_bytes(text_only)
    forced = load_document(one, ocr=OcrOptions(mode="always", cache=False))
    assert forced.page(1).ocr_confidence is not None
    assert cer(layer_in_reading_order(OPINION, 0), forced.page(1).text, spaces=False) <= 0.05
    with pytest.raises(UserFacingError, match="unknown OCR mode"):
        OcrOptions(mode="sometimes")


def test_images_and_a_multipage_tiff_with_an_empty_page(tmp_path: Path) -> None:
    from PIL import Image

    page = render_page(OPINION, 2)
    top = page.crop((0, 0, page.width, page.height // 2))
    png, jpeg, tiff = tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "c.tiff"
    top.save(png)
    top.save(jpeg, quality=85)
    blank = Image.new("RGB", top.size, "white")
    top.save(tiff, save_all=True, append_images=[blank], compression="tiff_lzw")
    expected = "out of the chaotic early weeks of the COVID-19 pandemic"
    for path, kind in ((png, "png"), (jpeg, "jpeg")):
        doc = load_document(path, ocr=OcrOptions(cache=False))
        assert doc.kind == kind and doc.page_count == 1
        assert expected in doc.page(1).text
    doc = load_document(tiff, ocr=OcrOptions(cache=False))
    assert doc.kind == "tiff" and doc.page_count == 2
    assert expected in doc.page(1).text
    assert doc.page(2).text == "" and doc.page(2).ocr_confidence == 0.0
    count = lambda t: len(t.split())  # noqa: E731
    coverage = verify_coverage(doc, chunk_document(doc, count, lambda t, n: [t], 4096), count)
    assert coverage.as_dict()["ocr"]["empty_pages"] == [2]
    assert "p. 2: OCR found no text" in ocr_notes(coverage.as_dict())
    with pytest.raises(ScannedDocument, match="OCR is off"):
        load_document(png, ocr=OcrOptions(mode="never"))
    renamed = tmp_path / "fake.png"
    renamed.write_bytes(b"\x00\x01 not an image at all" * 10)
    with pytest.raises(DocumentError, match="not a PNG, JPEG or TIFF"):
        load_document(renamed)


def test_two_column_scan_is_read_column_by_column(tmp_path: Path) -> None:
    """Two pages' bodies side by side on one sheet, under a title across both columns."""
    from PIL import Image, ImageDraw, ImageFont

    left, right = (render_page(OPINION, i).crop((250, 250, 2300, 1500)) for i in (2, 3))
    half = (left.width // 2, left.height // 2)
    sheet = Image.new("RGB", (2 * half[0] + 200, half[1] + 400), "white")
    sheet.paste(left.resize(half), (50, 300))
    sheet.paste(right.resize(half), (half[0] + 150, 300))
    ImageDraw.Draw(sheet).text((300, 150), "OPINIONS OF THE FIRST CIRCUIT, REPRINTED",
                               fill="black", font=ImageFont.load_default(size=48))
    path = tmp_path / "columns.png"
    sheet.save(path)
    text = load_document(path, ocr=OcrOptions(cache=False)).page(1).text
    order = [text.find(phrase) for phrase in (
        "OPINIONS OF THE FIRST CIRCUIT", "out of the chaotic early weeks",
        "protections of the First Amendment", "BACKGROUND", "We draw the facts")]
    assert -1 not in order, text
    assert order == sorted(order), text


def test_cache_skips_ocr_on_a_rerun_and_cancel_keeps_finished_pages(tmp_path: Path) -> None:
    page = render_page(OPINION, 2)
    first = page.crop((0, 0, page.width, page.height // 3))
    second = page.crop((0, page.height // 3, page.width, 2 * page.height // 3))
    path = tmp_path / "two.tiff"
    first.save(path, save_all=True, append_images=[second])
    cancel = CancelToken()
    seen: list[OcrProgress] = []

    def stop_after_first(progress: OcrProgress) -> None:
        seen.append(progress)
        cancel.cancel()

    with pytest.raises(Cancelled):
        load_document(path, ocr=OcrOptions(progress=stop_after_first, cancel=cancel))
    assert [(p.done, p.total, p.page, p.cached) for p in seen] == [(1, 2, 1, False)]
    cache_files = list((tmp_path / "lexbrief-home" / "ocr").glob("*.json"))
    assert len(cache_files) == 1
    assert list(json.loads(cache_files[0].read_text(encoding="utf-8"))["pages"]) == ["1"]
    seen.clear()
    doc = load_document(path, ocr=OcrOptions(progress=seen.append))
    assert [(p.page, p.cached) for p in seen] == [(1, True), (2, False)]
    assert seen[-1].eta_seconds == 0.0
    # a third run reads both pages from the cache: what the cache says is what the page gets
    raw = json.loads(cache_files[0].read_text(encoding="utf-8"))
    raw["pages"]["2"]["text"] = doc.page(2).text + "\n\nCACHED MARKER"
    cache_files[0].write_text(json.dumps(raw), encoding="utf-8")
    seen.clear()
    again = load_document(path, ocr=OcrOptions(progress=seen.append))
    assert [p.cached for p in seen] == [True, True]
    assert again.page(2).text.endswith("CACHED MARKER")
    assert again.page(1).text == doc.page(1).text


def test_pages_scanned_sideways_or_upside_down_are_read_upright(tmp_path: Path) -> None:
    """The opinion's page 3 scanned at 90°, 180° and 270°, around a page with a text layer:
    each scan is turned upright before it is read, and keeps its own page number."""
    page = render_page(OPINION, 2)
    path = tmp_path / "turned.pdf"
    path.write_bytes(image_pdf([page.rotate(90, expand=True), (OPINION, 0),
                                page.rotate(180), page.rotate(270, expand=True)]))
    doc = load_document(path, ocr=OcrOptions(cache=False))
    assert [p.ocr_confidence is not None for p in doc.pages] == [True, False, True, True]
    assert doc.page(2).text == _layer(0)
    reference = layer_in_reading_order(OPINION, 2)
    for number in (1, 3, 4):
        text = doc.page(number).text
        assert cer(reference, text, spaces=False) <= 0.03, (number, text)
        # in reading order: the filing header first, the page number last
        assert text.index("20-1507") < text.index("jurisdictional barrier looms") \
            < text.rindex("3"), text


def test_a_badly_degraded_scan_is_flagged_and_a_clean_one_is_not(tmp_path: Path) -> None:
    """The contract's page 2 scanned clean at 300 dpi, then at 100 dpi as a JPEG of quality 20
    with grey noise (the calibration's worst render, docs/BENCHMARKS.md): the bad page is
    misread beyond 10% and flagged, the clean one is read right and not flagged."""
    reference = layer_in_reading_order(CONTRACT, 1)
    bad = gaussian_noise(jpeg(render_page(CONTRACT, 1, 100), 20), 30)
    path = tmp_path / "scan.pdf"
    pdf = image_pdf([render_page(CONTRACT, 1)])
    path.write_bytes(pdf)
    clean_page = load_document(path, ocr=OcrOptions(cache=False)).page(1)
    (tmp_path / "bad.pdf").write_bytes(image_pdf([bad], dpi=100))
    bad_page = load_document(tmp_path / "bad.pdf", ocr=OcrOptions(cache=False)).page(1)
    assert cer(reference, clean_page.text, spaces=False) <= 0.03
    assert cer(reference, bad_page.text, spaces=False) > 0.10
    doc = Document(path, "pdf", [clean_page, Page(2, bad_page.text,
                                                  ocr_confidence=bad_page.ocr_confidence)],
                   "0" * 64, len(pdf))
    count = lambda t: len(t.split())  # noqa: E731
    coverage = verify_coverage(doc, chunk_document(doc, count, lambda t, n: [t], 4096), count)
    assert coverage.as_dict()["ocr"]["low_confidence_pages"] == [2]
    assert any(n.startswith("p. 2: low OCR confidence") for n in ocr_notes(coverage.as_dict()))


def test_a_page_scanned_askew_is_straightened(tmp_path: Path) -> None:
    """Skewed 1.5°, the contract's lines drift across each other's rows (18% of characters out
    of place before pages were straightened); straightened, it reads as the clean scan does."""
    path = tmp_path / "askew.pdf"
    path.write_bytes(image_pdf([degrade(render_page(CONTRACT, 1), angle=1.5)]))
    text = load_document(path, ocr=OcrOptions(cache=False)).page(1).text
    assert cer(layer_in_reading_order(CONTRACT, 1), text, spaces=False) <= 0.03, text


def test_low_confidence_and_empty_pages_are_flagged() -> None:
    """The flags, from the pages' recorded confidences."""
    doc = Document(Path("x.pdf"), "pdf", [Page(1, "A clear page of text " * 5, ocr_confidence=0.98),
                                          Page(2, "a dubious page " * 5, ocr_confidence=0.61),
                                          Page(3, "", ocr_confidence=0.0)], "0" * 64, 1)
    count = lambda t: len(t.split())  # noqa: E731
    coverage = verify_coverage(doc, chunk_document(doc, count, lambda t, n: [t], 4096), count)
    ocr = coverage.as_dict()["ocr"]
    assert ocr["low_confidence_pages"] == [2] and ocr["empty_pages"] == [3]
    assert ocr["mean_confidence"] == round((0.98 + 0.61) / 2, 4)
    assert ocr_notes(coverage.as_dict()) == ["OCR: 3 pages, mean confidence 80%",
                                             "p. 2: low OCR confidence (61%)",
                                             "p. 3: OCR found no text"]


@pytest.mark.model
def test_cli_summarizes_the_scanned_pdf_with_page_citations(starter_model: Path,
                                                            lexbrief_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lexbrief", "summarize", str(SCANNED), "--json"],
        capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["document"]["pages"] == 2
    assert record["coverage"]["ocr"]["pages"] == [1, 2]
    assert record["coverage"]["pages_read"] == 2 and record["coverage"]["tokens_dropped"] == 0
    assert record["citations"] and set(record["citations"]) <= {1, 2}
    # every point cites the scanned pages, and its quote stands in their OCR text
    assert record["key_points"]
    assert all(set(p["pages"]) <= {1, 2} and p["verified"] and p["spans"]
               for p in record["key_points"])
    assert "OCR of scanned page 2" in result.stderr
    assert "OCR: 2 pages, mean confidence" in result.stderr
    assert list((lexbrief_home / "ocr").glob("*.json"))  # cached for the next run


@pytest.mark.gui
@pytest.mark.model
def test_window_drop_of_the_scanned_pdf_shows_ocr_progress_and_page_citations(
        qtbot, starter_model: Path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from lexbrief.ui.gui.main_window import MainWindow

    window = MainWindow()
    window.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    window.show()
    stages: list[str] = []
    window.worker.progress.connect(lambda _job, progress: stages.append(progress.stage))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(SCANNED))])
    with qtbot.waitSignal(window.worker.finished, timeout=600000) as blocker:
        window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    _, outcome = blocker.args
    assert stages.count("ocr") == 2 and stages.index("ocr") < stages.index("final")
    assert set(outcome.summary.cited_pages) <= {1, 2} and outcome.summary.cited_pages
    text = window.summary.toPlainText()
    assert "OCR: 2 pages, mean confidence" in text
    window.close()
