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


_BLOCK_WORDS = 1 << 22  # read a block at a time: a big file never sits in memory whole
_MAX_FOUND = 1 << 16  # more damaged time words than this is garbage, not damage: the first ones are set right


@numba.njit(cache=True, nogil=True)
def _out_of_order(words, base, shift, kind, mask, modulus, state, found_at, found_word, k):
    """Record time-high words out of order with both neighbours (at, the word before them) from index ``k`` on.

    ``state`` carries [time-high words seen (up to 2), the one before the current, the current, its
    index] from block to block; ``base`` is the index of ``words[0]`` in the body. Returns the new ``k``.
    """
    seen, prev, cur, cur_at = state[0], state[1], state[2], state[3]
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        if (w >> shift) != kind:
            continue
        if seen >= 2:
            a = prev & mask
            b = cur & mask
            c = w & mask
            if b != a and b != c and (b - a) % modulus + (c - b) % modulus >= modulus:
                if k < found_at.shape[0]:
                    found_at[k] = cur_at  # around the clock through ``b``: ``b`` is the damaged one
                    found_word[k] = prev
                    k += 1
                cur = w
                cur_at = base + i
                continue
        prev = cur
        cur = w
        cur_at = base + i
        seen = min(seen + 1, 2)
    state[0], state[1], state[2], state[3] = seen, prev, cur, cur_at
    return k


def damaged_time_words(path: Path, data_start: int, version: str) -> tuple[np.ndarray, np.ndarray]:
    """(byte offsets of damaged time-high words, the word to write at each: the time-high word before it)."""
    dtype, shift, kind, mask, modulus = _LAYOUTS[version[:1]]
    itemsize = np.dtype(dtype).itemsize
    state = np.zeros(4, np.int64)
    found_at = np.empty(_MAX_FOUND, np.int64)
    found_word = np.empty(_MAX_FOUND, np.int64)
    k = base = 0
    with path.open("rb") as f:
        f.seek(data_start)
        while (words := np.fromfile(f, dtype=dtype, count=_BLOCK_WORDS)).shape[0]:
            k = _out_of_order(words, base, shift, kind, mask, modulus, state, found_at, found_word, k)
            base += words.shape[0]
    return data_start + found_at[:k] * itemsize, found_word[:k].astype(dtype)


def repaired_time_copy(path: Path, offsets: np.ndarray, replacements: np.ndarray) -> tempfile._TemporaryFileWrapper:
    """A temporary copy of ``path`` with the words at ``offsets`` overwritten by ``replacements``."""
    # Returned open: the copy is read by the source and deleted when the source closes it.
    copy = tempfile.NamedTemporaryFile(prefix="neuroclip-", suffix=path.suffix)  # noqa: SIM115 - returned open, see above
    with path.open("rb") as f:
        shutil.copyfileobj(f, copy, 1 << 20)
    for offset, word in zip(offsets.tolist(), replacements, strict=True):
        copy.seek(offset)
        copy.write(word.tobytes())
    copy.flush()
    return copy
