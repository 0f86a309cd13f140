"""The queue: one row per document with its state, progress and time left."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from lexbrief.summarize.pipeline import Progress

COLUMNS = ("Document", "State", "Progress", "Time left")
JOB_ROLE = Qt.ItemDataRole.UserRole


class QueueView(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(COLUMNS)
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setAlternatingRowColors(True)
        self._items: dict[int, QTreeWidgetItem] = {}

    def add(self, job_id: int, path: Path) -> None:
        item = QTreeWidgetItem([path.name, "queued", "", ""])
        item.setToolTip(0, str(path))
        item.setData(0, JOB_ROLE, job_id)
        self.addTopLevelItem(item)
        self._items[job_id] = item

    def job_item(self, job_id: int) -> QTreeWidgetItem | None:
        return self._items.get(job_id)

    def job_state(self, job_id: int) -> str:
        item = self._items.get(job_id)
        return item.text(1) if item else ""

    def set_state(self, job_id: int, state: str, tooltip: str = "") -> None:
        item = self._items.get(job_id)
        if item:
            item.setText(1, state)
            item.setToolTip(1, tooltip or state)
            if state.startswith(("done", "failed", "cancelled")):
                item.setText(3, "")

    def set_progress(self, job_id: int, progress: Progress, speed: str | None = None) -> None:
        """`speed`: the run's "reading N tok/s · writing N tok/s" (telemetry.speed)."""
        item = self._items.get(job_id)
        if not item:
            return
        if progress.stage == "waiting":  # another LexBrief process has the model (turn.py)
            item.setText(1, "waiting")
            item.setToolTip(1, progress.message)
            item.setText(2, progress.message)
            return
        stage = {"ocr": "OCR", "chunking": "reading", "map": "reading",
                 "condense": "merging notes", "final": "writing summary"}.get(progress.stage, "")
        if stage:
            item.setText(1, progress.message if progress.stage in ("ocr", "map") else stage)
        percent = int(100 * max(0, progress.step - 1) / max(1, progress.total))
        speed = f" · {speed}" if speed else ""
        item.setText(2, f"{percent}% (step {progress.step}/{progress.total}){speed}")
        if progress.eta_seconds is not None:
            seconds = int(progress.eta_seconds)
            item.setText(3, f"{seconds // 60}:{seconds % 60:02d}")

    def selected_jobs(self) -> list[int]:
        return [int(item.data(0, JOB_ROLE)) for item in self.selectedItems()]

    def unfinished_jobs(self) -> list[int]:
        return [job for job, item in self._items.items()
                if not item.text(1).startswith(("done", "failed", "cancelled"))]
