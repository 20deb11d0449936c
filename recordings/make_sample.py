"""Make recordings/sample.aedat4: a few seconds of moving digits and shapes seen by a simulated event camera.

    python recordings/make_sample.py [--out recordings/sample.aedat4] [--seed 0]

Each object is shown for one second on a 128 x 128 sensor and moves along a
small triangle, one side every 100 ms (like the saccades that made N-MNIST),
so it keeps firing ON events on its leading edges and OFF events on its
trailing ones. The events come from ``neuroclip_live.stream.simulator.EventCameraModel``
(log-intensity change over a contrast threshold, per-pixel threshold
mismatch, background noise) and are written with dv-processing, together
with APS-like frames (the scene's intensity images at 25 fps), so the sample
serves ``neuroclip-live align`` as a DAVIS recording would. Seeded: the
same seed gives the same events. See recordings/README.md for what is shown when.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroclip_live.events import SensorSize
from neuroclip_live.tinyclip import synthetic

SIZE = SensorSize(128, 128)
SECONDS_PER_OBJECT = 1.0
STEP_US = 1_000  # the scene is re-rendered every millisecond
# (class name, digit style): what is shown, in order, one second each. Objects tiny-digits reads
# correctly in every full window here, starting with one it gets from the first timestep: the
# first object starts without the burst of the others, and a "3" there was read as "9" throughout.
SEQUENCE = [("0", "font"), ("7", "font"), ("circle", None), ("star", None), ("3", "strokes"), ("square", None)]
SACCADE_US = 100_000  # one side of the motion triangle
SACCADE_PX = 10.0  # length of one side, in sensor pixels
FRAME_US = 40_000  # APS frames at 25 fps, from the same intensity images the events come from


def _offset(t_us: int) -> tuple[float, float]:
    """Position along the motion triangle at time ``t_us`` (pixels from the start)."""
    corners = [(0.0, 0.0), (SACCADE_PX, 0.0), (SACCADE_PX / 2, SACCADE_PX * math.sqrt(3) / 2)]
    k, r = divmod(t_us, SACCADE_US)
    a, b = corners[k % 3], corners[(k + 1) % 3]
    f = r / SACCADE_US
    return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])


def centred_pose(i: int, rng: np.random.Generator) -> synthetic.Pose:
    """The sample's pose for every object: centred, 80% of the sensor's height."""
    cx, cy = SIZE.width / 2 - SACCADE_PX / 2, SIZE.height / 2 - SACCADE_PX / 3
    return synthetic.Pose(cx=cx, cy=cy, height=SIZE.height * 0.8)


def simulate(
    seed: int = 0,
    frames: list[tuple[int, np.ndarray]] | None = None,
    pose: Callable[[int, np.random.Generator], synthetic.Pose] = centred_pose,
    sequence: list[tuple[str, str | None]] = SEQUENCE,
) -> np.ndarray:
    """All events of the sample, ``EVENT_DTYPE``, time-ordered, starting at t = 0.

    With a ``frames`` list, the scene's intensity images every ``FRAME_US`` are
    appended to it as (t, H x W uint8), on the events' clock: the APS frames a
    DAVIS would record beside the events. ``pose`` places object ``i`` and
    ``sequence`` says what is shown (other recordings of the same objects:
    ``benchmarks/teach_jitter.py``).
    """
    rng = np.random.default_rng(seed)
    camera = synthetic.EventCameraModel(SIZE, rng, threshold=0.3, threshold_sigma=0.08, noise_rate_hz=0.2)
    ss = 4
    foreground, background = 0.75, 0.15
    chunks = []
    steps_per_object = int(SECONDS_PER_OBJECT * 1e6) // STEP_US
    for i, (name, style) in enumerate(sequence):
        label = synthetic.CLASSES.index(name)
        mask = synthetic.object_mask(label, SIZE, pose(i, rng), rng, style=style, supersample=ss)
        last_shift = None
        image = None
        for s in range(steps_per_object):
            t = (i * steps_per_object + s) * STEP_US
            dx, dy = _offset(s * STEP_US)
            shift = (round(dx * ss), round(dy * ss))
            if shift != last_shift:  # re-render only when the object moved by a sub-pixel step
                image = synthetic.intensity(
                    synthetic.downsample(synthetic.shift(mask, *shift), ss), foreground, background
                )
                last_shift = shift
            if frames is not None and t % FRAME_US == 0:
                frames.append((t, np.round(image * 255).astype(np.uint8)))
            if i == 0 and s == 0:
                camera.reset(image, t)
                continue
            chunks.append(camera.step(image, t))
    events = np.concatenate(chunks)
    t0 = int(events["t"][0])
    events["t"] -= t0
    if frames is not None:
        frames[:] = [(max(t - t0, 0), image) for t, image in frames]
    return events


def write_aedat4(
    events: np.ndarray, path: Path, size: SensorSize = SIZE, frames: list[tuple[int, np.ndarray]] | None = None
) -> None:
    """Write events (and APS frames, when given) to an .aedat4 file with dv-processing.

    The file is complete when the writer goes.
    """
    import dv_processing as dv

    store = dv.EventStore()
    for t, x, y, p in zip(
        events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist(), strict=True
    ):
        store.push_back(t, x, y, bool(p))
    config = dv.io.MonoCameraWriter.Config("neuroclip-live-synthetic", dv.CompressionType.ZSTD)
    config.addEventStream((size.width, size.height))
    if frames:
        config.addFrameStream((size.width, size.height))
    writer = dv.io.MonoCameraWriter(str(path), config)
    writer.writeEvents(store)
    for t, image in frames or []:
        writer.writeFrame(dv.Frame(t, image))
    del writer


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "sample.aedat4"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    frames: list[tuple[int, np.ndarray]] = []
    events = simulate(args.seed, frames)
    out = Path(args.out)
    write_aedat4(events, out, frames=frames)
    duration = (int(events["t"][-1]) - int(events["t"][0])) / 1e6
    print(
        f"{out}: {events.shape[0]} events over {duration:.2f} s and {len(frames)} frames at {SIZE}, "
        f"{out.stat().st_size / 1e6:.2f} MB"
    )
    for i, (name, _) in enumerate(SEQUENCE):
        print(f"  {i * SECONDS_PER_OBJECT:.0f}-{(i + 1) * SECONDS_PER_OBJECT:.0f} s: {name}")


if __name__ == "__main__":
    main()
