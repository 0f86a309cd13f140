"""The cost chart inside the reports: `lexbrief export` (Word: the picture, Markdown and text: a
table) and the window's PDF, each with the saving, the assumptions and every bar's arithmetic
written under it (a report has no hover). Real files, read back with python-docx and
pypdfium2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lexbrief.costs.chart import render_png
from lexbrief.store import Store
from lexbrief.ui.cli.main import main
from lexbrief.ui.export import COST_HEADING, report_chart

from test_costs import _record, _save

PNG = b"\x89PNG\r\n\x1a\n"


def _stored(wh: float | None = 2.0) -> int:
    store = Store()
    try:
        return _save(store, "a" * 64, _record(prompt=40_000, completion=2_000, wh=wh))
    finally:
        store.close()


def _chart(summary_id: int):  # type: ignore[no-untyped-def]
    store = Store()
    try:
        chart = report_chart(store, store.get(summary_id))
    finally:
        store.close()
    assert chart is not None
    return chart


def test_a_stored_summary_has_the_chart_of_its_own_run() -> None:
    chart = _chart(_stored())
    assert chart.title == "Cost of the summary of aaaa.pdf"
    assert chart.chosen is not None and chart.chosen.label == "GPT-4o mini (OpenAI)"
    # its own ledger row: 2 Wh at 0.30 USD/kWh, 40,000 + 2,000 tokens
    assert chart.local is not None and chart.local.usd == pytest.approx(2.0 / 1000 * 0.30)
    assert "40,000 read + 2,000 written" in chart.assumptions
    assert "test" in chart.local.detail  # the run's energy method (the test record's "test")


def test_the_png_is_a_real_image_with_one_row_per_bar() -> None:
    from PIL import Image

    chart = _chart(_stored())
    png = render_png(chart)
    assert png.startswith(PNG)
    image = Image.open(io.BytesIO(png))
    assert image.width == 1600 and image.height > 60 * len(chart.bars)
    colors = {color for _count, color in image.getcolors(1_000_000)}
    assert (0x18, 0x80, 0x38) in colors and (0xD9, 0x30, 0x25) in colors  # local, chosen


def test_word_export_has_the_chart_picture_and_its_words(tmp_path: Path) -> None:
    import docx

    summary_id = _stored()
    chart = _chart(summary_id)
    out = tmp_path / "brief.docx"
    assert main(["export", str(summary_id), "--format", "docx", "--out", str(out)]) == 0
    document = docx.Document(str(out))
    (picture,) = document.inline_shapes
    assert picture.width == docx.shared.Cm(16)
    blip = picture._inline.graphic.graphicData.pic.blipFill.blip.embed
    image = document.part.related_parts[blip]
    assert image.content_type == "image/png" and image.blob == render_png(chart)
    paragraphs = [p.text for p in document.paragraphs]
    assert COST_HEADING in paragraphs
    after = paragraphs[paragraphs.index(COST_HEADING):]
    assert chart.saving in after and chart.saving.startswith("Saved ")
    assert f"Assumptions: {chart.assumptions}" in after
    for bar in chart.bars:  # each bar's hover text, as a bullet
        assert any(p.endswith(bar.detail) for p in after)


def test_markdown_and_text_exports_have_the_table_and_its_words(tmp_path: Path) -> None:
    summary_id = _stored()
    chart = _chart(summary_id)
    md, txt = tmp_path / "brief.md", tmp_path / "brief.txt"
    assert main(["export", str(summary_id), "--format", "md", "--out", str(md)]) == 0
    assert main(["export", str(summary_id), "--format", "txt", "--out", str(txt)]) == 0
    markdown = md.read_text(encoding="utf-8")
    assert f"## {COST_HEADING}" in markdown and "|---|---:|" in markdown
    assert "| **GPT-4o mini (OpenAI)** (chosen) |" in markdown
    assert f"**{chart.saving}**" in markdown
    text = txt.read_text(encoding="utf-8")
    assert COST_HEADING in text and chart.saving in text and chart.assumptions in text


def test_no_costs_and_no_ledger_row_leave_the_section_out(tmp_path: Path) -> None:
    summary_id = _stored()
    out = tmp_path / "brief.md"
    assert main(["export", str(summary_id), "--no-costs", "--out", str(out)]) == 0
    assert COST_HEADING not in out.read_text(encoding="utf-8")
    store = Store()
    store.db.execute("DELETE FROM run_records")
    store.db.conn.commit()
    assert report_chart(store, store.get(summary_id)) is None
    store.close()
    assert main(["export", str(summary_id), "--format", "docx", "--out", str(out)]) == 0


def test_an_unknown_energy_says_the_saving_is_unknown_under_the_chart(tmp_path: Path) -> None:
    import docx

    summary_id = _stored(wh=None)
    out = tmp_path / "brief.docx"
    assert main(["export", str(summary_id), "--format", "docx", "--out", str(out)]) == 0
    texts = [p.text for p in docx.Document(str(out)).paragraphs]
    assert any(t.startswith("Saving against GPT-4o mini (OpenAI): unknown") for t in texts)


def _window_showing(qtbot, summary_id: int):  # type: ignore[no-untyped-def]
    """A window with the stored summary `summary_id` open in its Summary pane."""
    from lexbrief.ui.gui.main_window import MainWindow

    window = MainWindow()
    window.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    store = Store()
    stored = store.get(summary_id)
    store.close()
    window.reader.show_stored(stored)
    return window, stored


def _export(qtbot, window, stored, fmt: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The window's export of `stored` as `fmt` to `out`, waited for until it says so."""
    with qtbot.waitSignal(window.statusBar().messageChanged, timeout=20000,
                          check_params_cb=lambda text: text.startswith("Exported")):
        window.reader.export_to(stored, fmt, out)


@pytest.mark.gui
def test_the_windows_pdf_has_the_chart_image_and_its_words(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    summary_id = _stored()
    chart = _chart(summary_id)
    window, stored = _window_showing(qtbot, summary_id)
    out = tmp_path / "brief.pdf"
    _export(qtbot, window, stored, "pdf", out)
    pdf = pdfium.PdfDocument(str(out))
    images, text = 0, ""
    for page in pdf:
        images += sum(1 for obj in page.get_objects()
                      if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE)
        text += page.get_textpage().get_text_range()
    pdf.close()
    flat = " ".join(text.split())
    assert images == 1
    assert COST_HEADING in flat and " ".join(chart.saving.split()) in flat
    assert "Assumptions: Tokens: 40,000 read + 2,000 written" in flat
    window.close()


@pytest.mark.gui
def test_the_window_can_leave_the_cost_out_of_exports_and_remembers_it(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path) -> None:
    from lexbrief.settings import load_settings

    summary_id = _stored()
    window, stored = _window_showing(qtbot, summary_id)
    action = window.export_costs_action
    assert action.isCheckable() and action.isChecked()  # on by default
    out = tmp_path / "with.md"
    _export(qtbot, window, stored, "md", out)
    assert COST_HEADING in out.read_text(encoding="utf-8")
    action.trigger()  # untick: File > Include the cost comparison in exports
    assert not action.isChecked() and load_settings().export_costs is False
    out = tmp_path / "without.md"
    _export(qtbot, window, stored, "md", out)
    text = out.read_text(encoding="utf-8")
    assert COST_HEADING not in text and text.startswith("# Summary of aaaa.pdf")
    window.close()
    again, _stored_again = _window_showing(qtbot, summary_id)  # the next window remembers
    assert not again.export_costs_action.isChecked()
    again.close()


def test_without_a_system_font_the_symbols_are_spelled_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lexbrief.costs import chart as chart_module

    chart = _chart(_stored())
    monkeypatch.setattr(chart_module, "_SYSTEM_FONTS", ())
    assert chart_module._fonts(10, 12)[2] is True  # Pillow's own font: no ×, — or €
    assert render_png(chart).startswith(PNG)
    assert "12x what it cost here" in chart.saving.translate(chart_module._PLAIN)
