"""Places of a frame in sensor pixels, where a relevance map's values sit, and how they become an image.

Dense features sit on a grid over the frame padded to the model's aspect (``grid_places``); crops
are squares at a few sizes over the frame (``CropLayout``). ``Places.raster`` draws one label's
values over the sensor for the window, the exported view and ``--dump``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip_live.events import BACKGROUND
from neuroclip_live.model.preprocess import padding_for

INNER = 0.3  # of a crop's side, around its centre, where its events are counted (README "Where")


@dataclass(frozen=True)
class Places:
    """K places of a frame: their centres (x, y) and boxes (x0, y0, x1, y1) in sensor pixels.

    ``grid`` is (rows, columns) when the places tile a padded frame (dense features), None
    for crops. ``valid`` is False for places wholly in the padding (no event can be there).
    ``inner`` (whole pixels, inside the sensor) is where a place's events are counted: a grid
    cell's own pixels, a crop's central part (``INNER``).
    """

    width: int
    height: int
    centres: np.ndarray  # (K, 2) float32
    boxes: np.ndarray  # (K, 4) float32
    valid: np.ndarray  # (K,) bool
    inner: np.ndarray  # (K, 4) int64, x0 <= x1 and y0 <= y1, within the sensor
    grid: tuple[int, int] | None = None

    def __len__(self) -> int:
        return int(self.centres.shape[0])

    def activity(self, frame: np.ndarray) -> np.ndarray:
        """(K,) float32: the share of each place's inner pixels that hold an event in ``frame`` (H, W)."""
        active = np.zeros((self.height + 1, self.width + 1), dtype=np.int64)
        active[1:, 1:] = (frame != BACKGROUND).cumsum(0).cumsum(1)  # an integral image: each box in 4 reads
        x0, y0, x1, y1 = self.inner.T
        counts = active[y1, x1] - active[y0, x1] - active[y1, x0] + active[y0, x0]
        return (counts / np.maximum((x1 - x0) * (y1 - y0), 1)).astype(np.float32)

    def raster(self, values: np.ndarray, cell: float | None = None) -> np.ndarray:
        """One label's values (K,) as an image over the sensor, about ``cell`` pixels a pixel (float32, [0, 1]).

        A grid is upsampled bilinearly and its padding cut off. Crops take, at each pixel, the
        best of the crops holding it, each weighted down from 1 at its centre to 1/2 at its
        edge: the image's brightest point is the best crop's centre, the peak.
        """
        cell = cell or max(1.0, min(self.width, self.height) / 48)
        rows, cols = max(1, round(self.height / cell)), max(1, round(self.width / cell))
        ys = (np.arange(rows, dtype=np.float32) + 0.5) * self.height / rows
        xs = (np.arange(cols, dtype=np.float32) + 0.5) * self.width / cols
        if self.grid is not None:
            return self._grid_raster(values, ys, xs)
        out = np.zeros((rows, cols), dtype=np.float32)
        for (x0, y0, x1, y1), v in zip(self.boxes, values, strict=True):
            wy = _tent(ys, y0, y1)
            wx = _tent(xs, x0, x1)
            np.maximum(out, v * np.outer(wy, wx), out=out)
        return out

    def _grid_raster(self, values: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        rows, cols = self.grid or (1, 1)
        x0, y0 = self.boxes[0, 0], self.boxes[0, 1]
        cw, ch = self.boxes[0, 2] - x0, self.boxes[0, 3] - y0
        grid = torch.as_tensor(values, dtype=torch.float32).reshape(1, 1, rows, cols)
        # Sample the grid at each pixel's centre: normalised coordinates in [-1, 1] over the grid's extent.
        gx = torch.as_tensor((xs - x0) / (cw * cols) * 2 - 1)
        gy = torch.as_tensor((ys - y0) / (ch * rows) * 2 - 1)
        where = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
        out = F.grid_sample(grid, where, mode="bilinear", padding_mode="border", align_corners=False)
        return out[0, 0].numpy()


def _tent(centres: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """1 at the middle of [lo, hi], 1/2 at its ends, 0 outside."""
    mid, half = (lo + hi) / 2, max((hi - lo) / 2, 1e-6)
    d = np.abs(centres - mid) / half
    return np.where(d <= 1, 1 - 0.5 * d, 0).astype(np.float32)


def grid_places(width: int, height: int, model_size: tuple[int, int], grid: tuple[int, int]) -> Places:
    """The cells of a dense grid over a frame padded (centred, with 127) to the model's aspect, in sensor pixels."""
    new_h, new_w, top, left = padding_for(height, width, *model_size)
    rows, cols = grid
    ch, cw = new_h / rows, new_w / cols
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x0, y0 = (c.ravel() * cw - left), (r.ravel() * ch - top)
    boxes = np.stack([x0, y0, x0 + cw, y0 + ch], 1).astype(np.float32)
    centres = np.stack([x0 + cw / 2, y0 + ch / 2], 1).astype(np.float32)
    valid = (boxes[:, 2] > 0) & (boxes[:, 0] < width) & (boxes[:, 3] > 0) & (boxes[:, 1] < height)
    clipped = np.stack([np.clip(centres[:, 0], 0, width - 1), np.clip(centres[:, 1], 0, height - 1)], 1)
    return Places(width, height, clipped, boxes, valid, _inside(boxes, width, height), grid)


def _inside(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes rounded to whole pixels and cut to the sensor (a box wholly outside becomes empty)."""
    x0 = np.clip(np.floor(boxes[:, 0]), 0, width)
    x1 = np.clip(np.ceil(boxes[:, 2]), x0, width)
    y0 = np.clip(np.floor(boxes[:, 1]), 0, height)
    y1 = np.clip(np.ceil(boxes[:, 3]), y0, height)
    return np.stack([x0, y0, x1, y1], 1).astype(np.int64)


@dataclass(frozen=True)
class CropLayout:
    """Square crops at ``scales`` of the frame's shorter side, ``overlap`` crops across each crop's width."""

    scales: tuple[float, ...] = (0.85, 0.7, 0.55)  # chosen on validation scenes (README "Where")
    overlap: int = 2  # a crop's stride is its side / overlap

    def places(self, width: int, height: int) -> Places:
        side = min(width, height)
        boxes = []
        for s in self.scales:
            c = max(1, round(side * s))
            stride = max(1, c // self.overlap)
            for y in _starts(height, c, stride):
                for x in _starts(width, c, stride):
                    boxes.append((x, y, x + c, y + c))
        b = np.asarray(boxes, dtype=np.float32)
        centres = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
        half = (b[:, 2:3] - b[:, 0:1]) * INNER / 2
        inner = _inside(np.concatenate([centres - half, centres + half], 1), width, height)
        return Places(width, height, centres, b, np.ones(len(b), dtype=bool), inner)


def _starts(length: int, crop: int, stride: int) -> list[int]:
    """Crop starts from 0 to the far edge, evenly, the last one flush with the edge."""
    if crop >= length:
        return [0]
    n = math.ceil((length - crop) / stride)
    return sorted({round(i * (length - crop) / n) for i in range(n + 1)})
