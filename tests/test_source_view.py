"""The cited page beside the summary is readable as it stands: the printed page fits the pane's
width (no sideways scrolling to read a line), and follows the pane when it is resized."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.read import load_document
from lexbrief.ui.gui.source_view import SourceView

pytestmark = pytest.mark.gui

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "court-opinion-ca1.pdf"


def test_the_printed_page_fits_the_panes_width_and_follows_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = SourceView(load_document(SAMPLE))
    qtbot.addWidget(view)
    view.resize(460, 700)
    view.show()
    view.show_page(9)
    assert view.showing_image and view.page_image is not None
    rendered = view.page_image.width()

    def shown_width() -> float:
        pixmap = view.image.pixmap()
        return pixmap.width() / pixmap.devicePixelRatio()

    viewport = view.image_area.viewport().width()
    assert rendered > viewport  # rendered sharper than the pane: it has to be scaled down
    qtbot.waitUntil(lambda: shown_width() <= view.image_area.viewport().width())
    assert shown_width() >= 0.9 * view.image_area.viewport().width()
    assert view.image_area.horizontalScrollBar().maximum() == 0
    view.resize(900, 700)
    qtbot.waitUntil(lambda: shown_width() >= 0.9 * view.image_area.viewport().width())
    assert shown_width() <= view.image_area.viewport().width()
