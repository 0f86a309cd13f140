"""The model manager: the catalog with fit badges for this machine, downloads with progress,
cancel and resume, importing a GGUF, and choosing the active model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled
from lexbrief.store import Store
from lexbrief.ui.gui.database import Database
from lexbrief.ui.gui.tasks import on_gui, run_in_background
from lexbrief.units import size_text

log = logging.getLogger(__name__)

COLUMNS = ("Model", "Size", "50-page contract", "Memory needed / free", "Licence",
           "On this machine", "Status")
TIME_COLUMN, MEMORY_COLUMN, LICENCE_COLUMN, FIT_COLUMN, STATUS_COLUMN = 2, 3, 4, 5, 6


@dataclass
class CatalogRow:
    id: str
    name: str
    size: int
    license: str
    gated: bool
    fit: str
    installed: bool
    active: bool
    recommended: bool
    path: Path | None
    time_text: str = "unknown"  # a 50-page contract here: "about 4 min 30 s (estimate)"
    time_detail: str = ""
    memory_needed: int | None = None  # bytes, weights + KV cache + compute at the context
    memory_free: int = 0
    licence_words: str = ""


Rates = tuple[float, float, int]  # reading tok/s, writing tok/s, runs (measured here)


def measured_here(store: Store) -> dict[str, Rates | None]:
    """A database operation: each installed model file's speeds measured on this computer
    (its summaries, else its calibration: service.calibration.measured_speeds, which the
    progress ETA uses too)."""
    from lexbrief.model_files.rating import installed_catalog_ids
    from lexbrief.service.calibration import measured_speeds

    return {path.name: measured_speeds(store, path) for path in installed_catalog_ids().values()}


def load_rows(measured: Mapping[str, Rates | None] | None = None
              ) -> tuple[list[CatalogRow], str]:
    """Rate every catalog model on this machine (reads GGUF headers: run it off the GUI);
    `measured`: the speeds measured here (measured_here), else every time is an estimate."""
    from lexbrief.model_files.estimate import contract_time, licence_words
    from lexbrief.model_files.rating import (
        active_model_path,
        installed_catalog_ids,
        machine_text,
        rate_catalog,
    )

    hw, rec, offload, _context = rate_catalog()
    installed = installed_catalog_ids()
    active = active_model_path()
    chosen = rec.choice.entry.id if rec else None
    measured = measured or {}
    rows = []
    for rated in rec.ranked if rec else []:
        entry = rated.entry
        path = installed.get(entry.id)
        rates = measured.get(path.name) if path else None
        estimate = None
        if rates is not None:
            estimate = contract_time(rates[0], rates[1], measured=True, runs=rates[2])
        elif rated.speed is not None and rated.plan is not None and rated.plan.runs:
            estimate = contract_time(rated.speed.prompt_tps, rated.speed.generation_tps)
        rows.append(CatalogRow(
            id=entry.id, name=entry.name, size=entry.size, license=entry.license,
            gated=entry.gated, fit=rated.label, installed=path is not None,
            active=bool(path and active and path.resolve() == active.resolve()),
            recommended=entry.id == chosen, path=path,
            time_text=(estimate.text if estimate else
                       "does not fit" if rated.plan else "unknown (no size in the catalog)"),
            time_detail=estimate.detail if estimate else rated.label,
            memory_needed=rated.plan.estimate.total if rated.plan else None,
            memory_free=int(hw.memory.available), licence_words=licence_words(entry.license)))
    rows.sort(key=lambda r: (not r.active, not r.installed, not r.recommended, r.size))
    return rows, machine_text(hw, offload)


class ModelsView(QWidget):
    active_changed = Signal(str)  # path of the new active model

    def __init__(self, db: Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.machine = QLabel("Checking this machine…")
        self.machine.setWordWrap(True)
        self.loaded = QLabel("Loaded: nothing yet (the model loads with the first document)")
        self.loaded.setWordWrap(True)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(COLUMNS)
        self.list.setRootIsDecorated(False)
        self.list.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.list.header().setStretchLastSection(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.use_button = QPushButton("Use this model")
        self.import_button = QPushButton("Import GGUF…")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.use_button.clicked.connect(self.use_selected)
        self.import_button.clicked.connect(self.import_file)
        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.use_button,
                       self.import_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.machine)
        layout.addWidget(self.loaded)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.rows: dict[str, CatalogRow] = {}
        self._cancel: CancelToken | None = None

    # -- listing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Speeds measured here from the database worker, then the rating off the GUI."""

        def failed(message: str) -> None:
            self.machine.setText(f"Cannot rate models: {message}")

        def rate(measured: dict[str, Rates | None] | None) -> None:
            run_in_background(lambda: load_rows(measured), self._show, failed,
                              what="rating the catalog")

        def unmeasured(message: str) -> None:  # no ledger: every time is an estimate
            log.warning("the models' measured speeds cannot be read: %s", message)
            rate(None)

        self.db.run(measured_here, rate, unmeasured, what="reading measured speeds")

    def _show(self, result: tuple[list[CatalogRow], str]) -> None:
        rows, machine = result
        self.machine.setText(machine)
        self.list.clear()
        self.rows = {row.id: row for row in rows}
        for row in rows:
            status = ", ".join(s for s, on in (("active", row.active),
                                                ("installed", row.installed and not row.active),
                                                ("recommended", row.recommended)) if on)
            licence = row.license + ("  [gated: hub login]" if row.gated else "")
            memory = (f"{size_text(row.memory_needed)} / {size_text(row.memory_free)}"
                      if row.memory_needed is not None else "unknown")
            item = QTreeWidgetItem([row.name, size_text(row.size), row.time_text, memory, licence,
                                    row.fit, status])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            item.setToolTip(0, row.name)
            item.setToolTip(TIME_COLUMN, row.time_detail)
            item.setToolTip(MEMORY_COLUMN, "Memory this model needs at LexBrief's context "
                                           "(weights, KV cache, scratch) / RAM free now")
            item.setToolTip(LICENCE_COLUMN, row.licence_words + (
                ". Gated: the model's hub page asks you to accept its licence and log in "
                "before downloading (a token)" if row.gated else ""))
            item.setToolTip(FIT_COLUMN, row.fit)
            if row.memory_needed is not None and row.memory_needed > row.memory_free:
                item.setForeground(MEMORY_COLUMN, Qt.GlobalColor.darkRed)
            self.list.addTopLevelItem(item)
        for column in range(len(COLUMNS)):
            self.list.resizeColumnToContents(column)

    def show_loaded(self, info: Any) -> None:
        if "server_url" in info.extra:  # Settings → Engine: a server
            self.loaded.setText(f"Using {info.name} on the server {info.extra['server_url']} "
                                f"({info.extra['server_kind']}, {info.extra['slots']} slot(s), "
                                f"context {info.context_length} tokens per request)")
            return
        where = f"GPU ({info.gpu_layers} layers) + CPU" if info.gpu_layers else "CPU"
        why = info.offload_note
        self.loaded.setText(f"Loaded: {info.name} on {where}, {info.threads} threads, "
                            f"context {info.context_length} tokens, in {info.load_seconds:.2f} s"
                            + (f" — {why}" if why else ""))
        tuning = info.extra.get("tuning")  # what the calibration chose, and why (issue 17)
        if tuning:
            self.loaded.setText(f"{self.loaded.text()}\nEngine settings: {tuning}")
            self.loaded.setToolTip(info.extra.get("tuning_reasons", ""))

    def _selected(self) -> CatalogRow | None:
        item = self.list.currentItem()
        return self.rows.get(str(item.data(0, Qt.ItemDataRole.UserRole))) if item else None

    # -- downloading --------------------------------------------------------------------------
    def download_selected(self) -> None:
        row = self._selected()
        if row is None or self._cancel is not None:
            return
        if row.installed:
            QMessageBox.information(self, "Already installed", f"{row.name} is installed.")
            return
        from lexbrief.model_files.catalog import find_entry
        from lexbrief.model_files.download import download_model

        entry = find_entry(row.id)
        cancel = self._cancel = CancelToken()

        def work() -> str:
            try:
                model = download_model(entry, cancel=cancel, progress=lambda p: on_gui(
                    lambda: self._on_progress(row.id, p)))
            except Cancelled:
                return ""
            return str(model.path)

        def done(path: str) -> None:
            if path:
                self._on_done(row.id, path)
            else:
                self._on_failed(row.id, "Download stopped; it resumes where it stopped next "
                                        "time.")

        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.progress.setFormat(f"{row.name}: starting…")
        self.cancel_button.setEnabled(True)
        run_in_background(work, done, lambda message: self._on_failed(row.id, message),
                          long=True, what="download")

    def cancel_download(self) -> None:
        if self._cancel:
            self._cancel.cancel()

    def _on_progress(self, model_id: str, p: Any) -> None:
        self.progress.setValue(int(p.fraction * 100))
        eta = f", {int(p.eta) // 60}:{int(p.eta) % 60:02d} left" if p.eta else ""
        self.progress.setFormat(f"{self.rows[model_id].name}: {size_text(p.downloaded)} of "
                                f"{size_text(p.total)} at {size_text(p.speed)}/s{eta}")

    def _finish(self) -> None:
        self._cancel = None
        self.cancel_button.setEnabled(False)

    def _on_done(self, model_id: str, path: str) -> None:
        self._finish()
        self.progress.setFormat(f"{self.rows[model_id].name}: downloaded and verified")
        self.refresh()

    def _on_failed(self, model_id: str, message: str) -> None:
        self._finish()
        self.progress.setFormat(message)
        QMessageBox.warning(self, "Download", message)

    # -- choosing -----------------------------------------------------------------------------
    def use_selected(self) -> None:
        row = self._selected()
        if row is None or row.path is None:
            QMessageBox.information(self, "Not installed", "Download or import the model first.")
            return
        self.set_active(row.path)

    def set_active(self, path: Path) -> None:
        from lexbrief.settings import load_settings, save_settings

        settings = load_settings()
        settings.active_model = str(path)
        save_settings(settings)
        self.active_changed.emit(str(path))
        self.refresh()

    def import_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", "",
                                              "GGUF models (*.gguf);;All files (*)")
        if name:
            self.import_path(Path(name))

    def import_path(self, path: Path) -> None:
        from lexbrief.model_files.importer import import_model

        def done(result: Any) -> None:
            model, _info = result
            answer = QMessageBox.question(self, "Imported",
                                          f"{path.name} is installed. Use it now?")
            if answer == QMessageBox.StandardButton.Yes:
                self.set_active(model.path)
            else:
                self.refresh()

        run_in_background(lambda: import_model(path), done,
                          lambda message: QMessageBox.warning(self, "Import failed", message))


