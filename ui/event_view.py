"""The event view: the current 127/255/0 frame (or the whole T-frame window) and the APS frame beside it.

Frames are shown through a lookup table, so the grey mode is exactly the
model's input and the colour mode only recolours it. Redraws happen only
when a new frame arrived, not at every timer tick.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QBoxLayout, QButtonGroup, QCheckBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from neuroclip_live.events import BACKGROUND, OFF_VALUE, ON_VALUE
from neuroclip_live.stream.framing import Frame
from neuroclip_live.stream.sources.base import ApsFrame
from neuroclip_live.wording import counted
from ui import theme
from ui.elided_label import ElidedLabel
from ui.where_overlay import WhereOverlay

if TYPE_CHECKING:
    from neuroclip_live.model.where import WhereMaps

# Pixel values of the gaps between tiles and of unused grid cells in window mode
# (frames only hold 0/127/255); the lookup tables give them their own colours.
GAP_VALUE = 64
EMPTY_VALUE = 32
TILE_GAP_PX = 4
MAX_TILE_WIDTH = 360  # big sensors are shrunk in window mode so T tiles stay cheap to draw
WHERE_TIP = "Where each label is seen: the selected label's map over the frame (click a bar to pick the label)"


def event_lut(colour: bool) -> np.ndarray:
    """256 x 3 uint8 lookup table for frame values 0/127/255 (and the tile gap)."""
    if colour:
        lut = np.empty((256, 3), dtype=np.uint8)
        lut[:] = theme.EVENT_BACKGROUND
        lut[ON_VALUE] = theme.EVENT_ON
        lut[OFF_VALUE] = theme.EVENT_OFF
    else:
        lut = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    lut[GAP_VALUE] = theme.TILE_GAP
    lut[EMPTY_VALUE] = theme.WINDOW_RGB  # unused cells vanish into the window
    return lut


def shrink_ternary(image: np.ndarray, factor: int) -> np.ndarray:
    """Downsample a 0/127/255 frame by ``factor`` keeping sparse events visible.

    Plain striding would drop most events; a block shows ON if any pixel is ON,
    else OFF if any is OFF, else background.
    """
    if factor <= 1:
        return image
    h, w = image.shape
    hh, ww = h // factor, w // factor
    blocks = image[: hh * factor, : ww * factor].reshape(hh, factor, ww, factor)
    out = np.full((hh, ww), BACKGROUND, dtype=np.uint8)
    out[(blocks == OFF_VALUE).any(axis=(1, 3))] = OFF_VALUE
    out[(blocks == ON_VALUE).any(axis=(1, 3))] = ON_VALUE
    return out


def grid_shape(n: int, tile_w: int, tile_h: int, target_aspect: float) -> tuple[int, int]:
    """(rows, cols) for ``n`` tiles whose mosaic is closest to ``target_aspect`` (w/h), few empty cells."""
    best: tuple[float, int, int] | None = None
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        aspect = (cols * tile_w) / (rows * tile_h)
        empty = rows * cols - n
        score = abs(math.log(aspect / target_aspect)) + 0.15 * empty
        if best is None or score < best[0]:
            best = (score, rows, cols)
    assert best is not None
    return best[1], best[2]


def tile_window(images: list[np.ndarray], target_aspect: float, max_tile_width: int = MAX_TILE_WIDTH) -> np.ndarray:
    """The T frames (oldest first) as one mosaic, read left to right, top to bottom."""
    if not images:
        return np.full((1, 1), BACKGROUND, dtype=np.uint8)
    factor = max(1, math.ceil(images[0].shape[1] / max_tile_width))
    tiles = [shrink_ternary(im, factor) for im in images]
    th, tw = tiles[0].shape
    rows, cols = grid_shape(len(tiles), tw, th, target_aspect)
    g = TILE_GAP_PX
    mosaic = np.full((rows * th + (rows - 1) * g, cols * tw + (cols - 1) * g), GAP_VALUE, dtype=np.uint8)
    for i in range(len(tiles), rows * cols):
        r, c = divmod(i, cols)
        mosaic[max(r * (th + g) - g, 0) : r * (th + g) + th, max(c * (tw + g) - g, 0) : c * (tw + g) + tw] = EMPTY_VALUE
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        mosaic[r * (th + g) : r * (th + g) + th, c * (tw + g) : c * (tw + g) + tw] = tile
    return mosaic


class ImagePane(pg.GraphicsLayoutWidget):
    """One image, aspect locked, scaled to the widget, no axes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.view.setDefaultPadding(0.01)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self._shape: tuple[int, ...] | None = None

    def show_image(self, image: np.ndarray, lut: np.ndarray | None = None) -> None:
        self.image.setImage(image, autoLevels=False, levels=(0, 255), lut=lut)
        if image.shape != self._shape:  # refit only when the geometry changes, not every frame
            self._shape = image.shape
            self.view.autoRange(padding=0.01)


class EventView(QWidget):
    """Event frame or T-frame mosaic, optional APS frame, a caption, and the mode controls."""

    modeChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events = ImagePane()
        self.aps = ImagePane()
        self.caption = ElidedLabel()
        self.caption.setObjectName("hint")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.frame_button = QPushButton("Frame")
        self.window_button = QPushButton("Window")
        self.frame_button.setToolTip("The newest timestep's frame, as the model sees it")
        self.window_button.setToolTip("All T frames of the window the scores come from, oldest first")
        self.modes = QButtonGroup(self)
        for i, b in enumerate((self.frame_button, self.window_button)):
            b.setCheckable(True)
            self.modes.addButton(b, i)
        self.frame_button.setChecked(True)
        self.colour_box = QCheckBox("Colour polarity")
        self.colour_box.setToolTip("ON events blue, OFF events orange on a dark ground (grey = model input)")
        self.aps_box = QCheckBox("APS")
        self.aps_box.setToolTip("Show the recording's intensity (APS) frame beside the events")
        self.aps_box.setChecked(True)
        self.aps_box.setVisible(False)  # offered only when the recording has intensity frames
        self.where_button = QPushButton("Where")
        self.where_button.setCheckable(True)
        self.where_button.setToolTip(WHERE_TIP)

        self._lay_out()
        self.where = WhereOverlay(self.events.view)

        self._lut = event_lut(False)
        self._shown: tuple[int, int] | None = None  # (frame index, t_end) drawn last
        self._origin_us: int | None = None  # the recording's start: captions count from it
        self._last_frame: Frame | None = None
        self._last_window: list[Frame] = []
        self._last_aps: ApsFrame | None = None
        self.displayed: np.ndarray | None = None  # what the event pane shows now (frame values)
        self.aps_displayed: np.ndarray | None = None  # the intensity frame the APS pane shows now
        self.modes.idToggled.connect(self._mode_toggled)
        self.colour_box.toggled.connect(self._colour_toggled)
        self.aps_box.toggled.connect(lambda _: self._update_aps(self._last_aps, force=True))

    def _lay_out(self) -> None:
        """Controls on top, the event pane with the APS pane beside it below."""
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.frame_button)
        controls.addWidget(self.window_button)
        controls.addSpacing(10)
        controls.addWidget(self.colour_box)
        controls.addWidget(self.aps_box)
        controls.addWidget(self.where_button)
        controls.addWidget(self.caption, 1)

        # Events and APS side by side or one over the other, whichever shows them bigger (_arrange).
        self.panes = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.panes.setContentsMargins(0, 0, 0, 0)
        self.panes.setSpacing(6)
        self.panes.addWidget(self.events, 1)
        aps_box = QVBoxLayout()
        aps_box.setContentsMargins(0, 0, 0, 0)
        aps_box.addWidget(self.aps, 1)
        self.aps_column = QWidget()
        self.aps_column.setLayout(aps_box)
        self.aps_column.setVisible(False)
        self.panes.addWidget(self.aps_column, 1)
        self.panes_host = QWidget()
        self.panes_host.setLayout(self.panes)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(controls)
        layout.addWidget(self.panes_host, 1)

    def _arrange(self) -> None:
        """Side by side when that shows the frames bigger than one over the other (a wide mosaic stacks)."""
        if self.displayed is None or self.aps_column.isHidden():
            return
        h, w = self.displayed.shape[:2]
        room_w, room_h = max(self.panes_host.width(), 1), max(self.panes_host.height(), 1)
        side = min(room_w / 2 / w, room_h / h)
        stacked = min(room_w / w, room_h / 2 / h)
        direction = QBoxLayout.Direction.LeftToRight if side >= stacked else QBoxLayout.Direction.TopToBottom
        if self.panes.direction() != direction:
            self.panes.setDirection(direction)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    # ----------------------------------------------------------------- modes
    @property
    def window_mode(self) -> bool:
        return self.window_button.isChecked()

    def set_window_mode(self, on: bool) -> None:
        (self.window_button if on else self.frame_button).setChecked(True)

    @property
    def colour(self) -> bool:
        return self.colour_box.isChecked()

    def set_colour(self, on: bool) -> None:
        self.colour_box.setChecked(on)

    def set_where_available(self, why: str) -> None:
        """Enable the Where toggle, or disable it with ``why`` as its tooltip (no model, or one without maps)."""
        self.where_button.setEnabled(not why)
        self.where_button.setToolTip(f"Where is off: {why}" if why else WHERE_TIP)

    def show_where(self, maps: WhereMaps | None, label: str | None) -> None:
        """Draw ``label``'s map over the frame (frame mode only); None hides it."""
        if maps is None or label not in maps.labels or self.window_mode:
            if self.where.shown:
                self.where.hide()
                self._caption()
            return
        if self.where.shown and maps is self.where.maps and label == self.where.label:
            return  # drawn already: the timer polls faster than timesteps come
        self.where.show(maps, label)
        self._caption()

    def _mode_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self._redraw()
            self.modeChanged.emit()

    def _colour_toggled(self, on: bool) -> None:
        self._lut = event_lut(on)
        self._redraw()
        self.modeChanged.emit()

    # --------------------------------------------------------------- drawing
    def clear(self) -> None:
        self._shown = None
        self._origin_us = None
        self._last_frame = None
        self._last_window = []
        self._last_aps = None
        self.displayed = None
        self.aps_displayed = None
        self.events.image.clear()
        self.where.hide()
        self.aps.image.clear()
        self.aps_column.setVisible(False)
        self.aps_box.setVisible(False)
        self.caption.setText("")

    def show_frames(
        self, frame: Frame | None, window: list[Frame], aps: ApsFrame | None, origin_us: int | None = None
    ) -> None:
        """Draw the newest frame (or window); cheap when nothing changed since the last call."""
        # Times from the start of the recording (a DAVIS file's clock reads 1589163147 s), or from
        # the first frame seen when the source has no start (live).
        if origin_us is not None:
            self._origin_us = origin_us
        elif self._origin_us is None and frame is not None:
            self._origin_us = frame.t_start_us
        self._update_aps(aps)
        if frame is None:
            return
        key = (frame.index, frame.t_end_us)
        if key == self._shown:
            return
        self._shown = key
        self._last_frame = frame
        self._last_window = window
        self._redraw()

    def _redraw(self) -> None:
        frame = self._last_frame
        if frame is None:
            return
        if self.window_mode and self._last_window:
            w = max(self.events.width(), 1)
            h = max(self.events.height(), 1)
            image = tile_window([f.image for f in self._last_window], w / h)
        else:
            image = frame.image
        reshaped = self.displayed is None or self.displayed.shape != image.shape
        self.displayed = image
        if reshaped:
            self._arrange()  # a mosaic or another sensor may sit better the other way
        self.events.show_image(image, self._lut)
        self._caption()

    def _caption(self) -> None:
        """The window's span, or the frame's time and events and the map's peak; the APS frame's time."""
        frame, window = self._last_frame, self._last_window
        if frame is None:
            return
        if self.window_mode and window:
            start, end = self._seconds(window[0].t_start_us), self._seconds(frame.t_end_us)
            text = f"{counted(len(window), 'frame')} · t {start:.3f}–{end:.3f} s"
        else:
            text = f"t {self._seconds(frame.t_end_us):.3f} s · {frame.n_events:,} events"
            if self.where.peak is not None:
                x, y = self.where.peak
                text += f" · {self.where.label} at {x}, {y} ({self.where.strength:.0%})"
        if self.aps_displayed is not None and self._last_aps is not None:
            text += f" · APS frame t {self._seconds(self._last_aps.t_us):.3f} s"
        self.caption.setText(text)

    def _seconds(self, t_us: int) -> float:
        return (t_us - (self._origin_us or 0)) / 1e6

    def _update_aps(self, aps: ApsFrame | None, force: bool = False) -> None:
        if aps is self._last_aps and not force:
            return
        self._last_aps = aps
        self.aps_box.setVisible(aps is not None)
        show = aps is not None and self.aps_box.isChecked()
        if show != self.aps_column.isVisibleTo(self):
            self.aps_column.setVisible(show)
            self._arrange()
        if not show:
            self.aps_displayed = None
            return
        assert aps is not None
        self.aps_displayed = aps.image
        self.aps.show_image(aps.image)

    # ---------------------------------------------------------------- export
    def export_png(self, path: str) -> bool:
        """Save what the event pane shows, at sensor resolution and in the current colours."""
        if self.displayed is None:
            return False
        rgb = self._lut[self.displayed]
        if self.where.shown and not self.window_mode:
            rgb = self.where.blend(rgb)
        rgb = np.ascontiguousarray(rgb)
        h, w, _ = rgb.shape
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        return image.copy().save(path, "PNG")
