"""Damaged time words in Prophesee EVT 2.0 / 3.0 files, found and neutralised before faery decodes them again.

EVT keeps time in a state: a "time high" word sets the upper bits, events (EVT 2.0) or "time
low" words (EVT 3.0) the lower ones. faery's decoders carry one damaged time-high word on for the
rest of the file (faery 0.7.1, measured): in EVT 3.0 a flipped high bit moves time ahead by up to
8.4 s and the true words after it are ignored as running backwards, so every later event comes
out shifted (one flip replayed 69% of a recording's timesteps); in EVT 2.0 the true word after
it reads as a wrap of the 34-bit clock, and everything after lands 4.8 hours later.

A damaged time-high word is out of order with its neighbours: going forward from the one
before it to it and on to the next one goes once around the clock, where true words never
do. Such words are overwritten, in a temporary copy, with the time-high word before them, which
changes nothing in the decoder's state, and faery decodes the copy. The search runs only when the
check of the decoded events saw a forward jump confirmed by the events after it (``JUMPS``):
healthy recordings pay nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numba
import numpy as np

# EVT version -> (word dtype, type shift, time-high type, value mask, the clock's modulus in time-high units)
_LAYOUTS = {
    "2": ("<u4", 28, 0x8, 0xFFFFFFF, 1 << 28),
    "3": ("<u2", 12, 0x8, 0xFFF, 1 << 12),
}


@numba.njit(cache=True, nogil=True)
def _out_of_order(words, shift, kind, mask, modulus, found):
    """Indices of time-high words out of order with both neighbours; returns how many were written to ``found``."""
    k = 0
    prev = -1
    cur = -1
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        if (w >> shift) != kind:
            continue
        if prev >= 0 and cur >= 0:
            a = np.int64(words[prev]) & mask
            b = np.int64(words[cur]) & mask
            c = w & mask
            if b != a and b != c and (b - a) % modulus + (c - b) % modulus >= modulus and k < found.shape[0]:
                found[k] = cur  # around the clock through ``b``: ``b`` is the damaged one
                k += 1
                cur = i
                continue
        prev = cur
        cur = i
    return k


def damaged_time_words(path: Path, data_start: int, version: str) -> tuple[np.ndarray, np.ndarray]:
    """(byte offsets of damaged time-high words, the word to write at each) in an EVT 2.0/3.0 body."""
    dtype, shift, kind, mask, modulus = _LAYOUTS[version[:1]]
    itemsize = np.dtype(dtype).itemsize
    words = np.fromfile(path, dtype=dtype, count=(path.stat().st_size - data_start) // itemsize, offset=data_start)
    found = np.empty(min(words.shape[0], 1 << 16), np.int64)
    n = _out_of_order(words, shift, kind, mask, modulus, found)
    found = found[:n]
    # What each damaged word becomes: the time-high word before it (the same state, so no change).
    is_high = (words >> shift) == kind
    high_at = np.flatnonzero(is_high)
    before = high_at[np.maximum(np.searchsorted(high_at, found) - 1, 0)]
    return data_start + found * words.itemsize, words[before]


def repaired_time_copy(path: Path, offsets: np.ndarray, replacements: np.ndarray) -> tempfile._TemporaryFileWrapper:
    """A temporary copy of ``path`` with the words at ``offsets`` overwritten by ``replacements``."""
    copy = tempfile.NamedTemporaryFile(prefix="neuroclip-", suffix=path.suffix)
    with path.open("rb") as f:
        shutil.copyfileobj(f, copy, 1 << 20)
    for offset, word in zip(offsets.tolist(), replacements, strict=True):
        copy.seek(offset)
        copy.write(word.tobytes())
    copy.flush()
    return copy
