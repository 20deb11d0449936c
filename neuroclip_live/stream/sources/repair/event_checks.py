"""The check every decoded chunk of a recording passes: one fused numba pass.

A damaged file decodes into events outside the sensor, timestamps that run
backwards and lone timestamps far ahead (a flipped high bit). The pass drops
those and counts them, and gathers on the way what the open-time scan needs
(count, time range, extent), so a chunk is read once. A clean chunk comes
back as it came (no copy).

Why numba rather than numpy: the same checks in numpy take six passes over
strided fields plus temporaries (about 3x the time, measured in benchmarks/).
"""

from __future__ import annotations

import numba
import numpy as np

from neuroclip_live.events import EVENT_DTYPE

# A forward jump larger than this must be confirmed by the events after it,
# otherwise it is a damaged timestamp and dropped (a recording paused for
# longer than this still plays: its next events confirm the jump). Small, so
# that a flipped low bit cannot hide much behind it: the events between the
# true time and an accepted spike would be dropped as running backwards.
TIME_JUMP_US = 10_000
# Events looked at after a jump to decide whether it is real.
LOOKAHEAD = 16

# Indices into the statistics the kernel fills. JUMPS: forward jumps kept (confirmed by the events
# after them): a pause, or a damaged time word that a decoder carried on (see ``evt_time_repair``).
KEPT, OUTSIDE, BACKWARDS, SPIKES, MAX_X, MAX_Y, FIRST_T, LAST_T, FIRST_OUT_X, FIRST_OUT_Y, DECIDED, JUMPS = range(12)
N_STATS = 12


@numba.njit(
    numba.void(
        numba.from_dtype(EVENT_DTYPE)[:], numba.int64, numba.int64, numba.boolean, numba.boolean[:], numba.int64[:]
    ),
    cache=True,
    nogil=True,
)
def _check(events, width, height, final, keep, stats):
    # Whole records, read once each (faster than three strided field arrays).
    # stats holds the running state on entry (LAST_T: last kept time, -1 before any)
    # and the updated counts on exit; DECIDED: how many events were decided (a jump
    # near the end of a chunk that is not the last waits for the next chunk).
    # Counters live in locals inside the loop (array writes per event cost 2x).
    n = events.shape[0]
    last = stats[LAST_T]
    kept, outside, backwards, spikes = stats[KEPT], stats[OUTSIDE], stats[BACKWARDS], stats[SPIKES]
    max_x, max_y, first_t = stats[MAX_X], stats[MAX_Y], stats[FIRST_T]
    decided = n
    for i in range(n):
        record = events[i]
        ti = record.t
        xi = record.x
        yi = record.y
        keep[i] = False
        if xi >= width or yi >= height:
            if outside == 0:
                stats[FIRST_OUT_X] = xi
                stats[FIRST_OUT_Y] = yi
            outside += 1
            continue
        if ti < last or ti < 0:
            backwards += 1
            continue
        if last >= 0 and ti > last + TIME_JUMP_US:
            if i + LOOKAHEAD >= n and not final:
                decided = i
                break
            back = 0
            seen = 0
            for j in range(i + 1, min(n, i + 1 + LOOKAHEAD)):
                seen += 1
                if events[j].t <= last + TIME_JUMP_US:
                    back += 1
            if seen and 2 * back >= seen:
                spikes += 1
                continue
            stats[JUMPS] += 1
        keep[i] = True
        if kept == 0:
            first_t = ti
        kept += 1
        last = ti
        if xi > max_x:
            max_x = xi
        if yi > max_y:
            max_y = yi
    stats[KEPT], stats[OUTSIDE], stats[BACKWARDS], stats[SPIKES] = kept, outside, backwards, spikes
    stats[MAX_X], stats[MAX_Y], stats[FIRST_T] = max_x, max_y, first_t
    stats[LAST_T] = last
    stats[DECIDED] = decided


def new_stats() -> np.ndarray:
    """The kernel's state before the first chunk of a file."""
    stats = np.zeros(N_STATS, np.int64)
    stats[[MAX_X, MAX_Y, LAST_T, FIRST_T]] = -1
    return stats


def check_events(events: np.ndarray, width: int, height: int, stats: np.ndarray, final: bool) -> tuple[np.ndarray, int]:
    """(the events kept, how many of ``events`` were decided); updates ``stats`` in place.

    Undecided events (a time jump in the last LOOKAHEAD events of a chunk that
    is not ``final``) are to be passed again in front of the next chunk.
    """
    keep = np.empty(events.shape[0], np.bool_)
    before = int(stats[KEPT])
    _check(events, width, height, final, keep, stats)
    decided = int(stats[DECIDED])
    kept = int(stats[KEPT]) - before
    if kept == events.shape[0]:
        return events, decided
    return events[:decided][keep[:decided]], decided
