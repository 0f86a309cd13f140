"""Settings, persisted in settings.toml: where the model runs (this computer or a server), threads,
GPU layers, context, chunk size, OCR of scanned pages, electricity price, the cloud model to
compare with, and where the data lives."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lexbrief.paths import choose_data_dir, data_dir
from lexbrief.settings import (
    GPU_LAYERS_ALL,
    GPU_LAYERS_AUTO,
    Settings,
    load_settings,
    save_settings,
)


class SettingsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("LexBrief settings")
        self.settings = load_settings()
        s = self.settings
        form = QFormLayout(self)

        # Where the model runs: this computer, or the firm's server (docs/SCALE-OUT.md).
        self.engine = QComboBox()
        self.engine.addItem("this computer", "local")
        self.engine.addItem("a server (llama-server or vLLM)", "server")
        self.engine.setCurrentIndex(1 if s.server.url else 0)
        form.addRow("Engine", self.engine)
        self.server_url = QLineEdit(s.server.url)
        self.server_url.setPlaceholderText("https://gpu-box.firm.local:8080")
        form.addRow("Server address", self.server_url)
        self.server_key_env = QLineEdit(s.server.api_key_env)
        self.server_key_env.setPlaceholderText("e.g. LEXBRIEF_SERVER_KEY (none if empty)")
        self.server_key_env.setToolTip("The environment variable that holds the server's API "
                                       "key. The key itself is never saved.")
        form.addRow("API key variable", self.server_key_env)
        self.server_ca = QLineEdit(s.server.ca_bundle)
        self.server_ca.setPlaceholderText("the system's certificates")
        form.addRow("CA certificates", self.server_ca)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        self.engine.currentIndexChanged.connect(self._engine_changed)
        self.offline = QCheckBox("Offline: no connections at all (not even model downloads "
                                 "or the server)")
        self.offline.setChecked(s.offline)
        form.addRow("Network", self.offline)

        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic (calibrated, else physical cores)")
        self.threads.setValue(s.threads)
        form.addRow("CPU threads", self.threads)

        self.gpu = QComboBox()
        self.gpu.addItem("automatic (from free GPU memory)", GPU_LAYERS_AUTO)
        self.gpu.addItem("CPU only", 0)
        self.gpu.addItem("all layers on the GPU", GPU_LAYERS_ALL)
        for layers in (8, 16, 24, 32, 48):
            self.gpu.addItem(f"{layers} layers on the GPU", layers)
        index = self.gpu.findData(s.gpu_layers)
        self.gpu.setCurrentIndex(max(0, index))
        form.addRow("GPU offload", self.gpu)

        self.context = QComboBox()
        for value, label in ((0, "model's own (up to 8,192)"), (2048, "2,048"), (4096, "4,096"),
                             (8192, "8,192"), (16384, "16,384"), (32768, "32,768")):
            self.context.addItem(f"{label} tokens" if value else label, value)
        self.context.setCurrentIndex(max(0, self.context.findData(s.context_length)))
        form.addRow("Context size", self.context)

        self.chunk = QSpinBox()
        self.chunk.setRange(256, 32768)
        self.chunk.setSingleStep(256)
        self.chunk.setValue(s.max_chunk_tokens)
        self.chunk.setSuffix(" tokens")
        form.addRow("Largest excerpt per step", self.chunk)

        self.parallel = QSpinBox()
        self.parallel.setRange(0, 16)
        self.parallel.setSpecialValueText("automatic (calibrated, else 4)")
        self.parallel.setValue(max(0, s.parallel_map))
        self.parallel.setToolTip("Excerpts read at once as parallel sequences; 1 reads them one "
                                 "by one. More uses more memory; it is faster with larger models "
                                 "or a GPU. Automatic: what `lexbrief bench --calibrate` measured "
                                 "fastest on this machine.")
        form.addRow("Excerpts at once", self.parallel)

        # OCR runs on this computer whichever engine writes the summary, so it stays enabled.
        self.ocr = QComboBox()
        self.ocr.addItem("OCR pages without a text layer (automatic)", "auto")
        self.ocr.addItem("OCR every page, even those with a text layer", "always")
        self.ocr.addItem("never OCR (scanned pages are left unread)", "never")
        self.ocr.setToolTip("Scanned pages are recognized on this computer, offline. 'Every "
                            "page' helps when a PDF's text layer is garbage; 'never' is the "
                            "same as --ocr never.")
        self.ocr.setCurrentIndex(max(0, self.ocr.findData(s.ocr)))
        form.addRow("Scanned pages", self.ocr)

        self.price = QDoubleSpinBox()
        self.price.setRange(0, 10)
        self.price.setDecimals(3)
        self.price.setValue(s.electricity_price_per_kwh)
        self.currency = QLineEdit(s.currency)
        self.currency.setMaxLength(3)
        self.currency.setFixedWidth(60)
        price_row = QHBoxLayout()
        price_row.addWidget(self.price)
        price_row.addWidget(QLabel("per kWh in"))
        price_row.addWidget(self.currency)
        form.addRow("Electricity", price_row)

        self.cloud = QComboBox()
        self.cloud.addItem("default from pricing.toml", "")
        try:
            from lexbrief.costs.pricing import load_pricing

            for key, price in load_pricing().models.items():
                self.cloud.addItem(f"{price.provider} {price.name}", key)
        except Exception as exc:  # noqa: BLE001 (a broken pricing file must not block settings)
            self.cloud.addItem(f"(pricing file unreadable: {exc})", "")
        self.cloud.setCurrentIndex(max(0, self.cloud.findData(s.cloud_model)))
        form.addRow("Compare costs with", self.cloud)

        self.folder = QLineEdit(str(data_dir()))
        self.folder.setReadOnly(True)
        browse = QPushButton("Change…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form.addRow("Data folder", folder_row)
        self.folder_note = QLabel("")
        form.addRow("", self.folder_note)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._new_folder: Path | None = None
        self._engine_changed()

    def _engine_changed(self) -> None:
        on_server = self.engine.currentData() == "server"
        server_widgets: list[QWidget] = [self.server_url, self.server_key_env, self.server_ca,
                                         self.test_button]
        local_widgets: list[QWidget] = [self.threads, self.gpu, self.context]
        for widget in server_widgets:
            widget.setEnabled(on_server)
        for widget in local_widgets:  # what a server decides for itself
            widget.setEnabled(not on_server)

    def test_connection(self) -> None:
        """Ask the server (in the background) what it serves: model, context, slots."""
        from lexbrief.ui.gui.tasks import run_in_background

        url = self.server_url.text().strip()
        if not url:
            self.test_result.setText("Give the server's address first.")
            return
        key_env = self.server_key_env.text().strip()
        ca = self.server_ca.text().strip()
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Asking {url}…")

        def ask() -> str:
            import os

            from lexbrief.engine.server.client import ServerConfig, ServerError
            from lexbrief.engine.server.engine import ServerEngine

            key = os.environ.get(key_env) if key_env else None
            if key_env and not key:
                raise ServerError(f"the environment variable {key_env} is not set")
            engine = ServerEngine(ServerConfig(url=url, api_key=key, ca_bundle=ca))
            try:
                info = engine.info
                return (f"Connected: {engine.kind} serving {info.name}, "
                        f"{info.context_length:,} tokens of context per request, "
                        f"{engine.slots} slot(s).")
            finally:
                engine.close()

        def done(text: str) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(text)

        def failed(message: str) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"Not connected: {message}")

        run_in_background(ask, done, failed)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data folder", self.folder.text())
        if folder:
            self._new_folder = Path(folder)
            self.folder.setText(folder)
            self.folder_note.setText("Takes effect at the next start. Existing summaries stay "
                                     "in the old folder.")

    def values(self) -> Settings:
        s = self.settings
        s.threads = self.threads.value()
        s.gpu_layers = int(self.gpu.currentData())
        s.context_length = int(self.context.currentData())
        s.max_chunk_tokens = self.chunk.value()
        s.parallel_map = self.parallel.value()
        s.ocr = str(self.ocr.currentData())
        s.electricity_price_per_kwh = self.price.value()
        s.currency = self.currency.text().strip().upper() or "USD"
        s.cloud_model = str(self.cloud.currentData())
        s.offline = self.offline.isChecked()
        on_server = self.engine.currentData() == "server"
        s.server.url = self.server_url.text().strip() if on_server else ""
        s.server.api_key_env = self.server_key_env.text().strip()
        s.server.ca_bundle = self.server_ca.text().strip()
        return s

    def save(self) -> None:
        save_settings(self.values())
        if self._new_folder is not None:
            choose_data_dir(self._new_folder)
        self.accept()
