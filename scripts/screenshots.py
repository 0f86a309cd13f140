"""Render real screenshots of the window (run under a display, e.g. scripts/screenshots.sh):
a court opinion streaming, the finished summary, a citation opened at its page, the hardware
and cost panel (the summary's cost chart, then its client matter's), and the model manager.

Usage: screenshots.py OUTPUT_FOLDER [--quick PREFIX] [--size WxH]
  --quick PREFIX  no document: only the Hardware & cost and Models tabs, as PREFIX*.png
                  (for checking a small screen or QT_SCALE_FACTOR=2)
  --size WxH      the window's size in logical pixels (default 1360x860)"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "court-opinion-ca1.pdf"


def pump(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def shoot(out: Path, name: str) -> None:
    pump(0.3)
    screen = QGuiApplication.primaryScreen()
    screen.grabWindow(0).save(str(out / name))
    print(f"saved {out / name}", flush=True)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="docs/screenshots")
    parser.add_argument("--quick", metavar="PREFIX")
    parser.add_argument("--size", default="1360x860")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width, height = (int(n) for n in args.size.split("x"))
    from lexbrief.ui.gui.app import app_icon, apply_theme
    from lexbrief.ui.gui.main_window import MainWindow

    started = time.perf_counter()
    app = QApplication([sys.argv[0]])
    app.setWindowIcon(app_icon())
    apply_theme(app)
    window = MainWindow()
    window.skip_close_question = True  # type: ignore[attr-defined]
    window.setGeometry(0, 0, width, height)
    window.show()
    pump(0.5)
    print(f"window usable after {time.perf_counter() - started:.2f} s", flush=True)
    if args.quick is not None:
        window.tabs.setCurrentWidget(window.hardware)
        pump(6)  # a few seconds of readings
        shoot(out, f"{args.quick}hardware-and-cost.png")
        window.tabs.setCurrentWidget(window.models)
        pump(3)
        shoot(out, f"{args.quick}models.png")
        window.close()
        return 0
    shoot(out, "01-empty-window.png")

    state = {"final_tokens": 0, "done": False}
    window.worker.token.connect(
        lambda _j, stage, _t: state.__setitem__("final_tokens", state["final_tokens"]
                                                + (stage == "final")))
    window.worker.finished.connect(lambda *_: state.__setitem__("done", True))
    window.matter.setText("Calvary v. Mills")  # filed under a client matter
    window.add_paths([SAMPLE])
    deadline = time.monotonic() + 900
    while state["final_tokens"] < 60 and not state["done"] and time.monotonic() < deadline:
        pump(0.2)
    shoot(out, "02-streaming.png")
    while not state["done"] and time.monotonic() < deadline:
        pump(0.5)
    pump(1.5)
    shoot(out, "03-summary.png")
    pages = [int(p) for p in __import__("re").findall(r"\[p\. (\d+)\]",
                                                      window.summary.final_markdown)]
    if pages:
        window.reader.open_page(pages[0])
        source = window.reader.source
        if source is not None:
            source.setGeometry(640, 40, 700, 780)
        shoot(out, "04-citation-source.png")
        if source is not None:
            source.close()
    window.tabs.setCurrentWidget(window.hardware)
    pump(5)  # the plots run on after the document ends
    shoot(out, "05-hardware-and-cost.png")
    period = window.hardware.period
    period.setCurrentIndex(period.findData("matter"))  # the cost of the latest matter
    pump(1.5)
    shoot(out, "08-cost-by-matter.png")
    window.tabs.setCurrentWidget(window.models)
    pump(3)
    shoot(out, "06-models.png")
    window.tabs.setCurrentWidget(window.history)
    window.history.search.setText("Calvary")
    pump(1.5)
    shoot(out, "07-history-search.png")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
