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
from neuroclip_live.runtime.stats import RateWindow
from neuroclip_live.runtime.status import RunStatus
from neuroclip_live.states import PlaybackState, StreamState
from neuroclip_live.stream.framing import EventFramer, Frame
from neuroclip_live.stream.noise import BackgroundActivityFilter
from neuroclip_live.stream.queues import DropOldestQueue
from neuroclip_live.stream.rate_limit import EventRateLimiter
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
        from neuroclip_live.stream.replay import (
            Replay,  # replay pacing only matters for files
        )

        status = self._status
        with status.lock:  # controls called before the file opened went to the config
            cfg = status.config
            replay = Replay(src, speed=cfg.speed, loop=cfg.loop, clock=self._clock)
            if cfg.start_us is not None:
                replay.seek(int(cfg.start_us))
            if cfg.start_paused:
                replay.pause()
            status.replay = replay
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
            status.set_state(StreamState.ENDED, keep_message=True)

    def _read_live(self) -> None:
        status = self._status
        # A camera does not wait for us: subsample when the reader falls behind (never for recordings,
        # whose replay waits instead).
        self._limiter.auto = status.config.auto_rate_limit
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
            while not self._stop.wait(status.config.reconnect_interval_s):
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
            # One lock a packet for what other threads asked (this runs up to some 10k times a second).
            with status.lock:
                listeners = status.listeners
                noise_request, status.noise_request = status.noise_request, None
                state = status.state
            for listener in listeners:
                listener(item)
            if noise_request is not None:
                self._set_noise(noise_request[0])
            raw = item.shape[0]
            if raw == 0:
                self._note_idle()
                continue
            item = self._limiter.limit(item)
            self._count_events(now, raw)  # with what the limit dropped of this packet
            if self._noise is not None:
                item = self._noise(item)
            self._hand_over(framer.frames(item), now)
            self._last_data = done = time.perf_counter()
            self._limiter.observe(done - now)
            if state in (StreamState.PAUSED, StreamState.NO_DATA):
                self._note_resumed(state)

    def _note_idle(self) -> None:
        """A live source that sends nothing for a while says so (once), instead of looking live."""
        status = self._status
        idle = time.perf_counter() - self._last_data
        with status.lock:
            src, state, limit = status.source, status.state, status.config.no_data_after_s
        if src is not None and src.is_live and state == StreamState.LIVE and idle >= limit:
            status.set_state(StreamState.NO_DATA, f"no events from {src.name} for {idle:.0f} s")

    def _note_resumed(self, state: StreamState) -> None:
        """Events flow again: a replay that was paused plays, a live source that had gone quiet is live."""
        with self._status.lock:
            replay = self._status.replay
        if replay is not None and state == StreamState.PAUSED and replay.state == PlaybackState.PLAYING:
            self._status.set_state(StreamState.PLAYING)
        elif state == StreamState.NO_DATA:
            self._status.set_state(StreamState.LIVE)

    def _set_noise(self, duration_us: int | None) -> None:
        with self._status.lock:
            size = self._status.source.size if self._status.source is not None else None
        self._noise = BackgroundActivityFilter(size, duration_us) if duration_us and size else None

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
        max_batch = (
            max(self._status.config.max_batch, LOSSLESS_HAND_OVER)
            if self._status.is_lossless
            else self._status.config.max_batch
        )
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
        lossless = status.is_lossless
        with status.lock:
            status.latest_frame = frames[-1]
            status.window = list(self._framer.window)
            epoch = status.epoch
        # Lossless runs wait for the worker; paced replay and live sources drop the oldest frames.
        self._queue.put_many([PendingFrame(f, ready, epoch) for f in frames], block=lossless)

    def _count_events(self, now: float, n: int) -> None:
        limiter = self._limiter
        with self._status.lock:
            stats = self._status.stats
            stats.events_total += n
            stats.event_rate = self._event_rate.add(now, n)
            stats.events_dropped = limiter.dropped
            stats.rate_limit = limiter.rate_limit
            limiter.speed = self._status.config.speed  # a replay's budget follows its speed


def aps_at(frames: list[ApsFrame], t_us: int) -> ApsFrame | None:
    """The newest APS frame at or before ``t_us`` (the first one before it); frames are in time order."""
    if not frames:
        return None
    i = bisect.bisect_right(frames, t_us, key=lambda f: f.t_us) - 1
    return frames[max(i, 0)]
