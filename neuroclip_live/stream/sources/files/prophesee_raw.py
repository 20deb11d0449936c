"""What is read of Prophesee ``.raw`` / ``.dat`` files by hand: their layout, and a big file's time range.

faery exposes neither. The layout (header size, EVT version, a cut-short last record) is needed
to refuse EVT 2.1 before faery panics on it and to say a recording was cut short.

faery decodes a whole file to know its last timestamp. A recording that is streamed (decoded
once, as it plays) still wants its time range, for the seek bar and for seeking, so:

- EVT 2.0: 32-bit words whose top 4 bits give the type; 0x8 holds bits 33..6 of the time,
  an event (0x0 OFF, 0x1 ON) its bits 5..0. Those are absolute, so the file's tail alone gives
  the last time: a read of a few kB, whatever the file's size.
- EVT 3.0: 16-bit words; 0x8 gives the 12 high bits of a 24-bit microsecond time that wraps
  every 16.8 s, 0x6 the 12 low bits. Counting the wraps needs every time word, so one numba
  pass reads them all (about 30x faster than decoding the events, but still a pass over the
  file: 1-2 s a GB here). It runs in the background (``Evt3TimeWords``): playback starts at
  once and the range grows as the pass goes, exact once it ends.

Faery's writer stores times after a ``t0`` offset named in the header; both add it back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

log = logging.getLogger(__name__)

_BLOCK_WORDS = 1 << 22  # 8 MB of EVT 3.0 a block: the range is published after each
_EVT2_TAIL_BYTES = 1 << 16  # first look; doubled until a time word is found


def prophesee_layout(path: Path, suffix: str) -> tuple[int, str | None, int]:
    """(header bytes, EVT version the header names, bytes after the last whole record) of a .raw or .dat file.

    A header of 0 bytes means there is none.
    """
    header = 0
    version = None
    with path.open("rb") as f:
        while (line := f.readline(1024)).startswith(b"%"):
            header += len(line)
            words = line[1:].replace(b";", b" ").split()
            if len(words) >= 2 and words[0].lower() in (b"evt", b"format"):
                version = words[1].decode("ascii", errors="replace").lower().removeprefix("evt")
        if header == 0:
            return 0, None, 0
        record = {"2": 4, "2.0": 4, "2.1": 8}.get(version or "", 2)  # EVT 3.0 words are 2 bytes
        data_start = header
        if suffix == ".dat":
            # DAT: after the text header, one byte of event type and one of event size.
            f.seek(header)
            type_and_size = f.read(2)
            record = type_and_size[1] if len(type_and_size) == 2 and type_and_size[1] else 8
            data_start += 2
            version = None
    return header, version, max(path.stat().st_size - data_start, 0) % record


def header_t0(path: Path, data_start: int) -> int:
    """The ``t0`` offset faery's writer names in the header (0 when none)."""
    t0 = 0
    with path.open("rb") as f:
        for line in f.read(data_start).splitlines():
            words = line[1:].split()
            if len(words) == 2 and words[0].lower() == b"t0" and words[1].isdigit():
                t0 = int(words[1])
    return t0


@numba.njit(cache=True, nogil=True)
def _evt2_last(words: np.ndarray) -> int:
    # The last event's time after the last time-high word of ``words``; -1 without a time word.
    high = -1
    last = -1
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 28
        if kind == 0x8:
            high = w & 0xFFFFFFF
            last = high << 6 if last < (high << 6) else last
        elif kind <= 0x1 and high >= 0:
            last = (high << 6) | ((w >> 22) & 0x3F)
    return last


def evt2_last_time(path: Path, data_start: int) -> int | None:
    """The last event time of an EVT 2.0 body starting at ``data_start``, from its tail (None without time words)."""
    size = path.stat().st_size
    words_total = (size - data_start) // 4
    tail = _EVT2_TAIL_BYTES // 4
    with path.open("rb") as f:
        while True:
            count = min(tail, words_total)
            f.seek(data_start + (words_total - count) * 4)
            last = _evt2_last(np.fromfile(f, dtype="<u4", count=count))
            if last >= 0:
                return header_t0(path, data_start) + int(last)
            if count == words_total:
                return None
            tail *= 2


@numba.njit(cache=True, nogil=True)
def _time_words(words, state):
    # state: [overflows, high, low, seen a time high]. One branch per word for the
    # common case (an event word); the time words are a few percent of a file.
    overflows, high, low, seen = state[0], state[1], state[2], state[3]
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0x8:
            new_high = w & 0xFFF
            if seen and new_high < high and high - new_high > 0x800:
                overflows += 1  # the 24-bit time wrapped
            high = new_high
            seen = 1
        elif kind == 0x6:
            low = w & 0xFFF
    state[0], state[1], state[2], state[3] = overflows, high, low, seen


class Evt3TimeWords:
    """The pass over an EVT 3.0 body's time words, block by block, publishing the time reached.

    ``reached_us`` only grows: after each block it is the time of the latest time word so far
    (an upper bound of the events before it). ``last_us`` is set once the whole body was read;
    None there means the file has no time words.
    """

    def __init__(self, path: Path, data_start: int, on_progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.data_start = data_start
        self.reached_us: int | None = None
        self.last_us: int | None = None
        self.done = threading.Event()
        self._on_progress = on_progress
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> int | None:
        """The whole pass on this thread; returns the last time (None without time words)."""
        state = np.zeros(4, np.int64)
        t0 = header_t0(self.path, self.data_start)
        try:
            with self.path.open("rb") as f:
                f.seek(self.data_start)
                while not self._stop.is_set():
                    words = np.fromfile(f, dtype="<u2", count=_BLOCK_WORDS)
                    if words.shape[0] == 0:
                        break
                    _time_words(words, state)
                    overflows, high, low, seen = (int(v) for v in state)
                    if seen:
                        self.reached_us = t0 + ((overflows << 24) | (high << 12) | low)
                        if self._on_progress is not None:
                            self._on_progress(self.reached_us)
            if not self._stop.is_set():
                self.last_us = self.reached_us
            return self.last_us
        finally:
            self.done.set()

    def start(self) -> None:
        """Run the pass on a daemon thread (the kernel releases the GIL: the replay goes on meanwhile)."""
        self._thread = threading.Thread(target=self._run_logged, name="evt3-time-words", daemon=True)
        self._thread.start()

    def _run_logged(self) -> None:
        try:
            self.run()
        except OSError as err:  # the file went away: the range stays what was reached
            log.warning("%s: the time range pass stopped (%s)", self.path.name, err)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
