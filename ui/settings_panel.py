"""Settings that shape the pipeline: timestep rule and size, T, alpha, model, adapter, device, backend, noise filter.

Everything but the noise filter changes how frames are cut or which model
runs, so applying them rebuilds the pipeline (the stream resumes where it
was). The noise filter is one of the session's controls: it switches on the
running pipeline, and the panel only shows it and sends the user's changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.stream.framing import TimestepRule

MODELS = ["tiny-digits", "RN50", "RN101", "ViT-B-32", "ViT-B-16", "ViT-L-14"]
DEVICES = [("auto", None), ("CPU", "cpu"), ("CUDA", "cuda")]
BACKEND_ITEMS = [("auto", "auto"), ("torch", "torch"), ("OpenVINO (CPU)", "openvino")]
PRECISION_ITEMS = [("auto", "auto"), ("fp32 (full)", "fp32")]


@dataclass
class RunSettings:
    """What the panel edits; ``apply_to`` gives the run configuration with these settings."""

    rule: TimestepRule
    T: int
    alpha: str | None  # JSON file of per-timestep weights; None = uniform
    model: str
    weights: str | None
    adapter: str | None  # None = zero-shot, no adapter
    device: str | None
    backend: str = "auto"  # where the image encoder runs (model.settings.BACKENDS)
    precision: str = "auto"

    @classmethod
    def from_config(cls, config: RunConfig) -> RunSettings:
        m = config.model
        return cls(
            config.rule, config.T, m.alpha_path, m.name, m.weights, m.adapter_path, m.device, m.backend, m.precision
        )

    def apply_to(self, config: RunConfig) -> RunConfig:
        model = replace(
            config.model,
            name=self.model,
            weights=self.weights,
            device=self.device,
            alpha_path=self.alpha,
            adapter_path=self.adapter,
            backend=self.backend,
            precision=self.precision,
        )
        return replace(config, rule=self.rule, T=self.T, model=model)


def _combo(items: list[tuple[str, str]], tip: str) -> QComboBox:
    box = QComboBox()
    for text, value in items:
        box.addItem(text, value)
    box.setToolTip(tip)
    return box


class _PathField(QWidget):
    """A read-only path with a Browse button and a clear button."""

    changed = Signal()

    def __init__(self, caption: str, file_filter: str, placeholder: str) -> None:
        super().__init__()
        self.caption = caption
        self.file_filter = file_filter
        self.line = QLineEdit()
        self.line.setPlaceholderText(placeholder)
        self.line.setReadOnly(True)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip(caption)
        browse.clicked.connect(self._browse)
        clear = QToolButton()
        clear.setText("✕")
        clear.setToolTip("Clear")
        clear.clicked.connect(lambda: self.set_path(None))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line, 1)
        layout.addWidget(browse)
        layout.addWidget(clear)

    def path(self) -> str | None:
        return self.line.text() or None

    def set_path(self, path: str | None) -> None:
        self.line.setText(path or "")
        self.line.setToolTip(path or "")
        self.changed.emit()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.caption, self.line.text(), self.file_filter)
        if path:
            self.set_path(path)


class SettingsPanel(QWidget):
    """``applied(RunSettings)`` when the user applies; ``noiseFilterChanged(us or 0)`` at once."""

    applied = Signal(object)
    noiseFilterChanged = Signal(int)  # support window in microseconds, 0 = off

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rule_mode = QComboBox()
        self.rule_mode.addItem("by time (ms)", "time")
        self.rule_mode.addItem("by event count", "count")
        self.rule_size = QDoubleSpinBox()
        self.rule_size.setRange(0.1, 10_000_000)
        self.rule_mode.currentIndexChanged.connect(self._rule_mode_changed)
        rule_row = QHBoxLayout()
        rule_row.setContentsMargins(0, 0, 0, 0)
        rule_row.addWidget(self.rule_mode, 1)
        rule_row.addWidget(self.rule_size, 1)
        self.T = QSpinBox()
        self.T.setRange(1, 64)
        self.T.setToolTip("Timesteps in the window the scores combine (the paper uses 10)")
        self.alpha = _PathField("Per-timestep weights", "JSON (*.json);;All files (*)", "uniform")
        self.alpha.setToolTip("alpha_i, the per-timestep weights written by 'neuroclip-live evaluate'; empty = uniform")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(MODELS)
        self.model.setToolTip("An open_clip model name, or tiny-digits (bundled, offline)")
        self.weights = _PathField(
            "CLIP weights", "Weights (*.pt *.pth *.bin *.safetensors);;All files (*)", "default for the model"
        )
        self.adapter_on = QCheckBox("Use a few-shot adapter")
        self.adapter = _PathField("Few-shot adapter", "Adapter (*.safetensors);;All files (*)", "written by 'train'")
        self.adapter_on.toggled.connect(self.adapter.setEnabled)
        self._build_engine_boxes()
        noise_row = self._build_noise_row()

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Timestep", rule_row)
        form.addRow("T (window)", self.T)
        form.addRow("Alpha", self.alpha)
        form.addRow("Model", self.model)
        form.addRow("Weights", self.weights)
        form.addRow("", self.adapter_on)
        form.addRow("Adapter", self.adapter)
        form.addRow("Device", self.device)
        form.addRow("Backend", self.backend)
        form.addRow("Precision", self.precision)
        form.addRow("Noise", noise_row)
        self._form = form
        self.apply_button = QPushButton("Apply and restart stream")
        self.apply_button.setObjectName("primary")
        self.apply_button.clicked.connect(self.apply)
        note = QLabel("Timestep, T, alpha, model, adapter, device and backend restart the stream where it is.")
        note.setObjectName("hint")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.apply_button)
        layout.addStretch(1)

    def _build_engine_boxes(self) -> None:
        """Device, backend and precision: where and how the image encoder runs."""
        self.device = QComboBox()
        for text, value in DEVICES:
            self.device.addItem(text, value)
        self.backend = _combo(
            BACKEND_ITEMS,
            "Where the image encoder runs: auto = torch on a CUDA GPU, else OpenVINO "
            "on the CPU when it is installed, else torch",
        )
        self.precision = _combo(
            PRECISION_ITEMS,
            "auto = fp16 on CUDA and what OpenVINO picks for the CPU (bf16 "
            "where it has AMX or AVX512-BF16); fp32 = full precision",
        )

    def _build_noise_row(self) -> QHBoxLayout:
        """The background-activity filter switch and its window; applied at once, no restart."""
        self.noise_on = QCheckBox("Background-activity filter")
        self.noise_on.setToolTip(
            "Drop events none of whose 8 neighbours fired in the last N ms (dv-processing's background-activity rule)"
        )
        self.noise_ms = QSpinBox()
        self.noise_ms.setRange(1, 1_000)
        self.noise_ms.setValue(2)
        self.noise_ms.setSuffix(" ms")
        self.noise_on.toggled.connect(lambda _: self._noise_changed())
        self.noise_ms.valueChanged.connect(lambda _: self._noise_changed())
        noise_row = QHBoxLayout()
        noise_row.setContentsMargins(0, 0, 0, 0)
        noise_row.addWidget(self.noise_on, 1)
        noise_row.addWidget(self.noise_ms)
        return noise_row

    # ------------------------------------------------------------------ values
    def load(self, settings: RunSettings) -> None:
        self.rule_mode.setCurrentIndex(0 if settings.rule.mode == "time" else 1)
        self._rule_mode_changed()
        self.rule_size.setValue(settings.rule.size / 1_000 if settings.rule.mode == "time" else settings.rule.size)
        self.T.setValue(settings.T)
        self.alpha.set_path(settings.alpha)
        self.model.setCurrentText(settings.model)
        self.weights.set_path(settings.weights)
        self.adapter_on.setChecked(settings.adapter is not None)
        self.adapter.setEnabled(settings.adapter is not None)
        self.adapter.set_path(settings.adapter)
        i = self.device.findData(settings.device)
        if i < 0:
            self.device.addItem(str(settings.device), settings.device)
            i = self.device.count() - 1
        self.device.setCurrentIndex(i)
        self.backend.setCurrentIndex(max(self.backend.findData(settings.backend), 0))
        self.precision.setCurrentIndex(max(self.precision.findData(settings.precision), 0))

    def add_control_row(self, label: str, widget: QWidget) -> None:
        """A row for a live control that applies at once (the widget is a view of the controls itself)."""
        self._form.addRow(label, widget)

    def show_noise_filter(self, noise_filter_us: int | None) -> None:
        """Show the session's noise filter (its controls own it): on with its window, or off."""
        for w in (self.noise_on, self.noise_ms):
            w.blockSignals(True)
        self.noise_on.setChecked(noise_filter_us is not None)
        if noise_filter_us:
            self.noise_ms.setValue(max(noise_filter_us // 1_000, 1))
        for w in (self.noise_on, self.noise_ms):
            w.blockSignals(False)

    def settings(self) -> RunSettings:
        mode = self.rule_mode.currentData()
        size = self.rule_size.value() * (1_000 if mode == "time" else 1)
        return RunSettings(
            rule=TimestepRule(mode, max(round(size), 1)),
            T=self.T.value(),
            alpha=self.alpha.path(),
            model=self.model.currentText().strip() or "RN50",
            weights=self.weights.path(),
            adapter=self.adapter.path() if self.adapter_on.isChecked() else None,
            device=self.device.currentData(),
            backend=self.backend.currentData(),
            precision=self.precision.currentData(),
        )

    def noise_filter_us(self) -> int | None:
        return self.noise_ms.value() * 1_000 if self.noise_on.isChecked() else None

    def apply(self) -> None:
        self.applied.emit(self.settings())

    def _rule_mode_changed(self) -> None:
        if self.rule_mode.currentData() == "time":
            self.rule_size.setSuffix(" ms")
            self.rule_size.setDecimals(1)
            self.rule_size.setSingleStep(5)
        else:
            self.rule_size.setSuffix(" events")
            self.rule_size.setDecimals(0)
            self.rule_size.setSingleStep(500)

    def _noise_changed(self) -> None:
        self.noiseFilterChanged.emit(self.noise_filter_us() or 0)
