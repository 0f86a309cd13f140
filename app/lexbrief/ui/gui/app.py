"""`lexbrief-gui`: start the window. Logging to the data folder, a crash handler that writes what
happened, the system's light/dark theme, and a self-test mode for installers."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from lexbrief import __version__
from lexbrief.paths import data_dir, resource_dir

log = logging.getLogger("lexbrief.ui.gui")


def app_icon() -> QIcon:
    icon = QIcon()
    folder = resource_dir() / "icons"
    for size in (16, 32, 64, 128, 256):
        path = folder / f"lexbrief-{size}.png"
        if path.exists():
            icon.addFile(str(path))
    return icon


def apply_theme(app: QApplication) -> None:
    """Fusion everywhere, dark or light as the system says, updated when it changes."""
    app.setStyle("Fusion")
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        palette = QPalette()
        base, text, mid = QColor(32, 33, 36), QColor(232, 234, 237), QColor(48, 49, 52)
        for role, color in ((QPalette.ColorRole.Window, mid), (QPalette.ColorRole.Base, base),
                            (QPalette.ColorRole.AlternateBase, mid),
                            (QPalette.ColorRole.WindowText, text),
                            (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, mid),
                            (QPalette.ColorRole.ButtonText, text),
                            (QPalette.ColorRole.Highlight, QColor(66, 133, 244)),
                            (QPalette.ColorRole.Link, QColor(138, 180, 248))):
            palette.setColor(role, color)
        app.setPalette(palette)
    else:
        app.setPalette(app.style().standardPalette())


def install_crash_handler() -> None:
    """A bug must not vanish: write it to a crash file and say so in plain words."""

    def handle(kind: type[BaseException], value: BaseException,
               tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        log.critical("unhandled exception\n%s", text)
        path = data_dir() / f"crash-{dt.datetime.now():%Y%m%d-%H%M%S}.txt"
        with contextlib.suppress(OSError):
            path.write_text(f"LexBrief {__version__}\n{text}", encoding="utf-8")
        if QApplication.instance():
            QMessageBox.critical(None, "LexBrief hit a bug",
                                 "Something went wrong inside LexBrief. Your documents and "
                                 f"summaries are safe.\n\nDetails were saved to:\n{path}")

    sys.excepthook = handle


def first_run(window: QWidget) -> None:
    """On the very first start (no settings yet), offer the ways to get a model."""
    from lexbrief.settings import load_settings, save_settings, settings_path
    from lexbrief.ui.gui.first_run import FirstRunDialog

    if Path(settings_path()).exists():
        return
    dialog = FirstRunDialog(window)
    dialog.exec()
    save_settings(load_settings())  # remember that the welcome was shown
    tabs = getattr(window, "tabs", None)
    models = getattr(window, "models", None)
    if dialog.choice in (FirstRunDialog.DOWNLOAD, FirstRunDialog.IMPORT) and tabs and models:
        tabs.setCurrentWidget(models)
        if dialog.choice == FirstRunDialog.IMPORT:
            models.import_file()


def _install_network_policy() -> None:
    """The network policy for the window's life, before anything (OCR's ONNX Runtime) loads."""
    from lexbrief import network
    from lexbrief.errors import UserFacingError
    from lexbrief.settings import load_settings

    try:
        offline = load_settings().offline
    except UserFacingError:  # a broken settings file: guarded anyway, the window says why
        offline = False
    network.install(offline=offline)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lexbrief-gui", description="LexBrief window")
    parser.add_argument("--self-test", action="store_true",
                        help="open the window, check it works, quit (for installers and CI)")
    args, qt_args = parser.parse_known_args(argv)
    started = time.perf_counter()
    from lexbrief.ui.logs import setup_logging

    setup_logging()
    install_crash_handler()
    _install_network_policy()
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    assert isinstance(app, QApplication)
    app.setApplicationName("LexBrief")
    app.setOrganizationName("LexBrief")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _s: apply_theme(app))

    from lexbrief.ui.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if not args.self_test:
        QTimer.singleShot(0, lambda: first_run(window))
    log.info("window ready in %.2f s", time.perf_counter() - started)
    if args.self_test:
        # The first turn of the event loop with the window shown: what a start-up benchmark
        # times from the process's start (scripts/bench_start.py).
        QTimer.singleShot(0, lambda: print("lexbrief-gui self-test: window shown", flush=True))

        def check() -> None:
            ok = window.isVisible() and window.worker_thread.isRunning()
            print(f"lexbrief-gui self-test: {'ok' if ok else 'FAILED'} "
                  f"(window ready in {time.perf_counter() - started:.2f} s)", flush=True)
            window.skip_close_question = True  # type: ignore[attr-defined]
            window.close()
            app.exit(0 if ok else 1)

        QTimer.singleShot(300, check)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
