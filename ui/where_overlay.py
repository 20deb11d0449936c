"""The relevance map over the event frame: a translucent heat map of one label and a cross at its peak.

The map comes with each scored timestep (``Scores.where``, made on the worker thread); this
only draws it, over the event pane's image in sensor coordinates, and blends the same picture
into the exported PNG. It is scaled to the label's own peak, so its shape shows even where the
label is weak; how strong the peak is, the caption says. Places under a third of the peak are
clear and the hottest are half opaque, so the events stay readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from ui import theme

if TYPE_CHECKING:  # torch and open_clip load with the model, on the worker thread, not with the window
    from neuroclip_live.model.where import WhereMaps

OPACITY = 0.55  # of the hottest places: the events under them stay readable
CLEAR_BELOW = 0.35  # of the label's peak: places below it are left clear, so the map does not tint the whole frame
CROSS_PX = 0.05  # the peak's cross, as a fraction of the sensor's shorter side (exported view)


def heat_lut() -> np.ndarray:
    """256 x 4 RGBA: clear up to ``CLEAR_BELOW``, then dark red through orange to yellow at 1, more opaque as it rises.

    It stops at yellow, not white: the frame's ON events are white and must show through the hottest place.
    """
    v = np.linspace(0.0, 1.0, 256)
    rgb = np.stack([np.clip(1.6 * v + 0.3, 0, 1), np.clip(1.6 * v - 0.6, 0, 0.85), np.clip(v - 0.9, 0, 0.1)], 1)
    alpha = np.clip((v - CLEAR_BELOW) / (0.9 - CLEAR_BELOW), 0, 1) * OPACITY
    return np.round(np.concatenate([rgb, alpha[:, None]], 1) * 255).astype(np.uint8)


HEAT_LUT = heat_lut()


class WhereOverlay:
    """A heat map and a peak marker on a pyqtgraph ``ViewBox`` holding the frame (sensor pixel coordinates)."""

    def __init__(self, view: pg.ViewBox) -> None:
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setZValue(10)
        self.marker = pg.ScatterPlotItem(
            size=18, symbol="+", pen=pg.mkPen(theme.ACCENT, width=3), brush=pg.mkBrush(theme.ACCENT)
        )
        self.marker.setZValue(11)
        view.addItem(self.heat)
        view.addItem(self.marker)
        self.values: np.ndarray | None = None  # the map drawn now, over the sensor (None: nothing drawn)
        self.peak: tuple[int, int] | None = None
        self.label: str | None = None
        self.strength = 0.0
        self.maps: WhereMaps | None = None  # what the drawn map came from
        self.hide()

    def show(self, maps: WhereMaps, label: str) -> None:
        """Draw ``label``'s map from ``maps`` over a frame of the maps' sensor size."""
        places = maps.places
        raw = maps.image(label)
        top = float(raw.max())
        values = raw / top if top > 0 else raw
        self.heat.setImage(values, autoLevels=False, levels=(0.0, 1.0), lut=HEAT_LUT)
        self.heat.setRect(QRectF(0, 0, places.width, places.height))
        x, y = maps.peaks[maps.index(label)]
        self.marker.setData([float(x)], [float(y)])
        self.heat.setVisible(True)
        self.marker.setVisible(True)
        self.values, self.peak, self.label, self.maps = values, maps.peak(label), label, maps
        self.strength = float(maps.values[maps.index(label)].max())  # the peak's value, 0 to 1

    def hide(self) -> None:
        self.heat.setVisible(False)
        self.marker.setVisible(False)
        self.values = self.peak = self.label = self.maps = None

    @property
    def shown(self) -> bool:
        return self.values is not None

    def blend(self, rgb: np.ndarray) -> np.ndarray:
        """The exported view: the heat map blended into an (H, W, 3) frame at sensor size, the peak crossed."""
        if self.values is None or self.peak is None:
            return rgb
        h, w, _ = rgb.shape
        rows = np.minimum((np.arange(h) + 0.5) * self.values.shape[0] / h, self.values.shape[0] - 1).astype(int)
        cols = np.minimum((np.arange(w) + 0.5) * self.values.shape[1] / w, self.values.shape[1] - 1).astype(int)
        index = np.round(np.clip(self.values[np.ix_(rows, cols)], 0, 1) * 255).astype(np.uint8)
        rgba = HEAT_LUT[index].astype(np.float32)
        a = rgba[..., 3:] / 255.0
        out = rgb.astype(np.float32) * (1 - a) + rgba[..., :3] * a
        x, y = min(max(self.peak[0], 0), w - 1), min(max(self.peak[1], 0), h - 1)
        arm = max(2, int(min(h, w) * CROSS_PX))
        colour = np.array(pg.mkColor(theme.ACCENT).getRgb()[:3], dtype=np.float32)
        out[y, max(0, x - arm) : x + arm + 1] = colour
        out[max(0, y - arm) : y + arm + 1, x] = colour
        return np.round(out).astype(np.uint8)
