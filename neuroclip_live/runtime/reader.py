"""The reader thread: open the source, pace a recording, filter noise, cut frames, hand them over.

It never waits for the model except where asked to (replay as fast as possible,
``lossless``): a slow worker makes the queue drop its oldest frames instead.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from neuroclip_live.errors import NeuroclipError, SourceDisconnected
from neuroclip_live.runtime.controls import Controls
from neuroclip_live.runtime.stats import PipelineStats, RateWindow
from neuroclip_live.runtime.status import RunStatus, lossless
from neuroclip_live.states import PlaybackState, StreamState
from neuroclip_live.stream.framing import EventFramer, Frame
from neuroclip_live.stream.noise import BackgroundActivityFilter
from neuroclip_live.stream.queues import DropOldestQueue
from neuroclip_live.stream.rate_limit import EventRateLimiter
from neuroclip_live.stream.replay import Replay
from neuroclip_live.stream.sources.base import (
    ApsFrame,
    Discontinuity,
    EventSource,
    FileSource,
)

log = logging.getLogger(__name__)

END = object()  # the last item the reader puts on the queue
LOSSLESS_HAND_OVER = 16  # frames a lossless run hands to the worker at once


@dataclass(frozen=True)
class Reset:
    """Time jumped (seek, loop, reconnect, a jump in the time words): the worker resets the classifier's state."""

    reason: str
    epoch: int


@dataclass(frozen=True)
class PendingFrame:
    frame: Frame
    ready: float  # perf_counter when the reader completed the frame
    epoch: int


def is_frame(item: object) -> bool:
    """What the queue may drop: frames, never resets or the end marker."""
    return isinstance(item, PendingFrame)


class StreamReader:
    """Runs on the reader thread (``run``); other threads only set requests on ``status``."""

    def __init__(
        self,
        open_source: Callable[[], EventSource],
        status: RunStatus,
        queue: DropOldestQueue,
        stop: threading.Event,
        model_ready: threading.Event,
        waits_for_model: bool,
        clock: Any | None = None,
    ) -> None:
        self._open_source = open_source
        self._status = status
        self._queue = queue
        self._stop = stop
        self._model_ready = model_ready
        self._waits_for_model = waits_for_model
        self._clock = clock
        self._framer: EventFramer | None = None
        self._noise: BackgroundActivityFilter | None = None
        self._event_rate = RateWindow()
        self._limiter = EventRateLimiter(status.config.max_rate, auto=False)
        self._last_data = time.perf_counter()  # when a live source last sent events
        self._replay: Replay | None = None  # a recording's, made here (also published in ``status``)
        self._noise_us: int | None = None  # the noise filter's window in force
        self._lossless = status.config.lossless  # the reader waits for the worker (follows the controls)

    def run(self) -> None:
        status = self._status
        try:
            src = self._open_source()
            with status.lock:
                status.source = src
            if self._stop.is_set():
                return
            self._framer = EventFramer(src.size, status.config.rule, status.config.T)
            if isinstance(src, FileSource):
                self._play_file(src)
            else:
                self._read_live()
        except NeuroclipError as err:
            status.set_state(StreamState.ERROR, str(err))
        except Exception as err:  # a bug: keep the app alive and say so
            log.exception("reader thread failed")
            status.set_state(StreamState.ERROR, f"reader failed: {err}")
        finally:
            self._queue.put(END, block=False)

    def close_source(self) -> None:
        """Release the device or file; called by the reader on a disconnect and by ``Pipeline.stop``."""
        with self._status.lock:
            src = self._status.source
        if src is not None:
            try:
                src.close()
            except Exception:  # closing a dead device must not mask a stop or a reconnect
                log.debug("closing the source failed", exc_info=True)

    def _play_file(self, src: FileSource) -> None:
        status = self._status
        with status.lock:  # the replay starts as the controls say now, where a seek asked meanwhile
            controls, start_us, status.seek_request = status.controls, status.seek_request, None
            replay = Replay(src, speed=controls.speed, loop=controls.loop, clock=self._clock)
            if start_us is not None:
                replay.seek(start_us)
            if controls.paused:
                replay.pause()
            status.replay = self._replay = replay
        for note in src.notes:
            log.info(note)  # the sinks print notes once; the log has them for --verbose
            status.set_message(note)
        # A recording waits for its model (the worker says "loading model"), so that its first
        # timesteps are scored rather than replayed (or dropped) while the weights load.
        while self._waits_for_model and not self._model_ready.wait(0.05):
            if self._stop.is_set():
                return
        paused = replay.state == PlaybackState.PAUSED
        status.set_state(StreamState.PAUSED if paused else StreamState.PLAYING, keep_message=True)
        self._pump(replay.packets())
        if not self._stop.is_set():
            self._finish_stream()
            with status.lock:  # the worker says ENDED when it has scored what was handed over
                status.reached_end = True

    def _read_live(self) -> None:
        status = self._status
        # A camera does not wait for us: subsample when the reader falls behind (never for recordings,
        # whose replay waits instead).
        self._limiter.auto = status.config.tuning.auto_rate_limit
        self._go_live()
        while not self._stop.is_set():
            try:
                with status.lock:
                    src = status.source
                assert src is not None
                self._pump(src.packets())
                return
            except SourceDisconnected as err:
                status.set_state(StreamState.DISCONNECTED, str(err))
                self.close_source()  # release the dead device or socket now, not at garbage collection
            # The device went away: keep the app running and retry until it returns.
            while not self._stop.wait(status.config.tuning.reconnect_interval_s):
                try:
                    src = self._open_source()
                except NeuroclipError:
                    continue
                with status.lock:
                    status.source = src
                self._discontinuity(Discontinuity("reconnect"))
                self._go_live()
                break

    def _go_live(self) -> None:
        self._last_data = time.perf_counter()
        # A live view shows frames while the model loads; the worker says "live" once it is ready.
        with self._status.lock:
            loading = self._status.state == StreamState.LOADING_MODEL
        if not loading:
            self._status.set_state(StreamState.LIVE)

    def _pump(self, items: Iterator[Any]) -> None:
        framer = self._framer
        status = self._status
        limiter = self._limiter
        assert framer is not None
        for item in items:
            if self._stop.is_set():
                return
            if isinstance(item, Discontinuity):
                if item.reason == "loop":
                    self._finish_stream()  # the pass's last, partial timestep, as at the end without --loop
                self._discontinuity(item)
                continue
            now = time.perf_counter()
            raw = item.shape[0]
            limited = limiter.limit(item)
            # One lock a packet (this runs up to some 10k times a second): what the other threads
            # asked for comes in, this packet's counts go out.
            with status.lock:
                listeners, controls, state, src = status.listeners, status.controls, status.state, status.source
                if raw:
                    self._count_events(status.stats, now, raw)
            for listener in listeners:
                listener(item)
            self._follow(controls)
            if raw == 0:
                self._note_idle(src, state)
                continue
            if self._noise is not None:
                limited = self._noise(limited)
            self._hand_over(framer.frames(limited), now)
            self._last_data = done = time.perf_counter()
            limiter.observe(done - now)
            if state in (StreamState.PAUSED, StreamState.NO_DATA):
                self._note_resumed(state)

    def _follow(self, controls: Controls) -> None:
        """Take up the user's controls: the noise filter, the speed the rate limit budgets for, lossless or not."""
        self._limiter.speed = controls.speed  # a replay's budget follows its speed
        self._lossless = lossless(self._status.config, controls, self._replay is not None)
        if controls.noise_filter_us != self._noise_us:
            self._noise_us = controls.noise_filter_us
            size = self._framer.size if self._framer is not None else None
            self._noise = BackgroundActivityFilter(size, self._noise_us) if self._noise_us and size else None

    def _note_idle(self, src: EventSource | None, state: StreamState) -> None:
        """A live source that sends nothing for a while says so (once), instead of looking live."""
        idle = time.perf_counter() - self._last_data
        limit = self._status.config.tuning.no_data_after_s
        if src is not None and src.is_live and state == StreamState.LIVE and idle >= limit:
            self._status.set_state(StreamState.NO_DATA, f"no events from {src.name} for {idle:.0f} s")

    def _note_resumed(self, state: StreamState) -> None:
        """Events flow again: a replay that was paused plays, a live source that had gone quiet is live."""
        replay = self._replay
        if replay is not None and state == StreamState.PAUSED and replay.state == PlaybackState.PLAYING:
            self._status.set_state(StreamState.PLAYING)
        elif state == StreamState.NO_DATA:
            self._status.set_state(StreamState.LIVE)

    def _finish_stream(self) -> None:
        assert self._framer is not None
        frame = self._framer.flush()
        if frame is not None:
            self._hand_over(iter((frame,)), time.perf_counter())

    def _discontinuity(self, jump: Discontinuity) -> None:
        assert self._framer is not None
        status = self._status
        with status.lock:
            listeners = status.listeners
        for listener in listeners:
            listener(jump)
        self._framer.reset()
        if self._noise is not None:
            self._noise.reset()
        self._limiter.reset()
        self._new_epoch(jump.reason)

    def _new_epoch(self, reason: str) -> None:
        """Frames from here on belong to a new stretch of time: the worker resets the classifier first."""
        status = self._status
        with status.lock:
            status.epoch += 1
            status.window = []
            epoch = status.epoch
        self._queue.put(Reset(reason, epoch))

    def _hand_over(self, frames: Iterator[Frame], ready: float) -> None:
        """Hand the frames a packet completed to the worker, in batches (one wake-up each, no ping-pong)."""
        batch: list[Frame] = []
        # A lossless run hands over more at once: each hand-off wakes the worker and the consumer,
        # and each wake-up costs more CPU than a timestep's framing. Bounded by the frame pool
        # (frames beyond it in flight are fresh allocations); a lossy run keeps the model's batch,
        # so that the queue drops stale frames rather than hand them over.
        max_batch = self._status.config.tuning.max_batch
        if self._lossless:
            max_batch = max(max_batch, LOSSLESS_HAND_OVER)
        for frame in frames:
            if frame.after_jump:
                # The framer reset its window at a time jump (garbage time words): a new epoch, as a seek.
                self._send(batch, ready)
                batch = []
                self._new_epoch("time jump")
            batch.append(frame)
            if len(batch) >= max_batch:
                self._send(batch, ready)
                batch = []
        self._send(batch, ready)

    def _send(self, frames: list[Frame], ready: float) -> None:
        if not frames:
            return
        assert self._framer is not None
        status = self._status
        with status.lock:
            status.latest_frame = frames[-1]
            status.window = list(self._framer.window)
            epoch = status.epoch
        # Lossless runs wait for the worker; paced replay and live sources drop the oldest frames.
        self._queue.put_many([PendingFrame(f, ready, epoch) for f in frames], block=self._lossless)

    def _count_events(self, stats: PipelineStats, now: float, n: int) -> None:
        """This packet's events and what the rate limit dropped (the caller holds the status lock)."""
        stats.events_total += n
        stats.event_rate = self._event_rate.add(now, n)
        stats.events_dropped = self._limiter.dropped
        stats.rate_limit = self._limiter.rate_limit


def aps_at(frames: list[ApsFrame], t_us: int) -> ApsFrame | None:
    """The newest APS frame at or before ``t_us`` (the first one before it); frames are in time order."""
    if not frames:
        return None
    i = bisect.bisect_right(frames, t_us, key=lambda f: f.t_us) - 1
    return frames[max(i, 0)]
