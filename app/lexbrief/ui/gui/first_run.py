"""First start: say which model will summarize, and offer the three ways to get one."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from lexbrief.model_files.resolve import starter_model_path


class FirstRunDialog(QDialog):
    USE_STARTER, DOWNLOAD, IMPORT = 1, 2, 3

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to LexBrief")
        self.choice = 0
        starter = starter_model_path()
        text = QLabel(
            "<h2>Welcome to LexBrief</h2><p>Summaries are written by a language model that runs "
            "on this computer. Nothing leaves it.</p><p>Choose the model to start with:</p>")
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        options = [
            (self.USE_STARTER, "Use the bundled starter model (SmolLM2 135M, small and fast, "
                               "basic quality)", starter is not None),
            (self.DOWNLOAD, "Download the model recommended for this computer…", True),
            (self.IMPORT, "Import a GGUF model file (from disk or a USB stick)…", True),
        ]
        for code, label, enabled in options:
            button = QPushButton(label)
            button.setEnabled(enabled)
            button.clicked.connect(lambda _checked=False, c=code: self._choose(c))
            layout.addWidget(button)
        if starter is None:
            note = QLabel("No bundled model is installed with this copy of LexBrief.")
            layout.addWidget(note)

    def _choose(self, code: int) -> None:
        self.choice = code
        self.accept()
