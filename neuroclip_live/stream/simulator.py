"""A simulated event camera: intensity images in, events out (the project's camera model).

Used to make training and sample data from images (the tiny model's synthetic
world, the bundled sample recording) and by R2ETL's encoding alignment, which
turns labelled images into event frames. It lives on the stream side because
it is a source of events, not part of any one model's world.
"""

from __future__ import annotations

import numpy as np

from neuroclip_live.events import EVENT_DTYPE, SensorSize


def downsample(mask: np.ndarray, factor: int) -> np.ndarray:
    """Block mean: a supersampled mask to sensor resolution (anti-aliased edges)."""
    if factor == 1:
        return mask
    h, w = mask.shape
    return mask.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


class EventCameraModel:
    """A simple DVS pixel model driven by a sequence of intensity images.

    Each pixel remembers the log intensity at its last event; when the current
    log intensity differs from it by ``k`` contrast thresholds it fires ``k``
    events (ON if brighter, OFF if darker), spread evenly in time between the
    two images, and moves its reference by ``k`` thresholds. Thresholds vary
    from pixel to pixel (``threshold_sigma``, relative) and background noise
    events arrive at ``noise_rate_hz`` per pixel (a fraction ``noise_on_fraction``
    of them ON, as real sensors are ON-biased).
    """

    def __init__(
        self,
        size: SensorSize,
        rng: np.random.Generator,
        threshold: float = 0.2,
        threshold_sigma: float = 0.1,
        noise_rate_hz: float = 0.5,
        noise_on_fraction: float = 0.7,
        eps: float = 0.02,
    ) -> None:
        self.size = size
        self.rng = rng
        self.eps = eps
        self.noise_rate_hz = noise_rate_hz
        self.noise_on_fraction = noise_on_fraction
        self.thresholds = threshold * np.clip(
            1.0 + threshold_sigma * rng.standard_normal((size.height, size.width)), 0.5, 1.5
        )
        self._ref: np.ndarray | None = None
        self._t: int | None = None

    def reset(self, image: np.ndarray, t_us: int) -> None:
        """Start from ``image`` (H x W intensities in [0, 1]) at time ``t_us`` without firing."""
        self._ref = np.log(image.astype(np.float64) + self.eps)
        self._t = int(t_us)

    def step(self, image: np.ndarray, t_us: int) -> np.ndarray:
        """Events fired between the previous image and ``image`` at ``t_us``, time-ordered."""
        if self._ref is None or self._t is None:
            self.reset(image, t_us)
            return np.zeros(0, dtype=EVENT_DTYPE)
        t0, t1 = self._t, int(t_us)
        log_i = np.log(image.astype(np.float64) + self.eps)
        diff = log_i - self._ref
        k = np.floor(np.abs(diff) / self.thresholds).astype(np.int64)
        ys, xs = np.nonzero(k)
        counts = k[ys, xs]
        sign = np.sign(diff[ys, xs])
        self._ref[ys, xs] += sign * counts * self.thresholds[ys, xs]
        n = int(counts.sum())
        ev_x = np.repeat(xs, counts)
        ev_y = np.repeat(ys, counts)
        ev_p = np.repeat(sign > 0, counts)
        # The j-th of k crossings happens at fraction (j + 1) / (k + 1)... roughly, with jitter.
        j = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        frac = (j + self.rng.uniform(0.2, 0.8, n)) / np.repeat(counts, counts)
        ev_t = t0 + frac * (t1 - t0)
        noise = self._noise(t0, t1)
        events = np.empty(n + noise.shape[0], dtype=EVENT_DTYPE)
        events["t"][:n] = ev_t
        events["x"][:n] = ev_x
        events["y"][:n] = ev_y
        events["p"][:n] = ev_p
        events[n:] = noise
        self._t = t1
        return events[np.argsort(events["t"], kind="stable")]

    def _noise(self, t0: int, t1: int) -> np.ndarray:
        area = self.size.width * self.size.height
        n = self.rng.poisson(self.noise_rate_hz * area * max(t1 - t0, 0) * 1e-6)
        out = np.empty(n, dtype=EVENT_DTYPE)
        out["t"] = self.rng.integers(t0, max(t1, t0 + 1), n)
        out["x"] = self.rng.integers(0, self.size.width, n)
        out["y"] = self.rng.integers(0, self.size.height, n)
        out["p"] = self.rng.random(n) < self.noise_on_fraction
        return out
