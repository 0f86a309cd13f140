"""History: full-text search over past summaries; open, re-run, delete."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lexbrief.store import StoredSummary
from lexbrief.ui.gui.database import Database


class HistoryView(QWidget):
    open_summary = Signal(object)  # StoredSummary
    rerun = Signal(object)  # StoredSummary
    delete_requested = Signal(int)
    loaded = Signal(int)  # how many rows are shown

    def __init__(self, db: Database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search summaries and document names…")
        self.search.setClearButtonEnabled(True)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["#", "Date", "Document", "Template", "Model", "Matter"])
        self.list.setRootIsDecorated(False)
        self.list.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.list.itemActivated.connect(lambda item, _col: self._emit(self.open_summary, item))
        open_button = QPushButton("Open")
        rerun_button = QPushButton("Re-run…")
        delete_button = QPushButton("Delete")
        open_button.clicked.connect(lambda: self._emit(self.open_summary))
        rerun_button.clicked.connect(lambda: self._emit(self.rerun))
        delete_button.clicked.connect(self._delete)
        buttons = QHBoxLayout()
        for button in (open_button, rerun_button, delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self._rows: dict[int, StoredSummary] = {}
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _text: self._debounce.start())

    def refresh(self) -> None:
        text = self.search.text().strip() or None
        self.db.run(lambda store: store.history(search=text, limit=500), self._show,
                    what="searching the history")

    def _show(self, rows: list[StoredSummary]) -> None:
        self.list.clear()
        self._rows = {row.id: row for row in rows}
        for row in rows:
            item = QTreeWidgetItem([str(row.id), row.created[:16].replace("T", " "),
                                    row.document_name, row.template, row.model_name,
                                    row.matter or ""])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            self.list.addTopLevelItem(item)
        self.loaded.emit(len(rows))

    def _current(self, item: QTreeWidgetItem | None = None) -> StoredSummary | None:
        item = item or self.list.currentItem()
        if item is None:
            return None
        return self._rows.get(int(item.data(0, Qt.ItemDataRole.UserRole)))

    def _emit(self, signal: SignalInstance, item: QTreeWidgetItem | None = None) -> None:
        row = self._current(item)
        if row:
            signal.emit(row)

    def _delete(self) -> None:
        row = self._current()
        if row:
            self.delete_requested.emit(row.id)
