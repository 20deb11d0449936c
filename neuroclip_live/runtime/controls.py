"""What the user changes while a run goes on, held once: the frozen ``Controls`` and its evented owner.

``RunConfig`` (frozen) says what a run starts with. ``Controls`` says what the user
changes while it runs: speed, loop, pause, the noise filter, the labels and their
templates, the minimum confidence a top label needs, and a taught adapter scored
instead of the labels. One ``ControlsModel`` owns the current record; ``update`` replaces it with
``dataclasses.replace`` (a misspelt field raises ``TypeError``, a bad value
``ValueError``) and tells the listeners of the fields that changed, as napari's
evented ``Dims`` tells its ``QtDims``. Widgets show the record and send updates;
they keep no copy. A pipeline listens and hands the new record to its threads
(``runtime.status``); nothing else writes it.

A control added later (a relevance map's label, say) is one field
here, one widget that subscribes to it, and one reader of ``status.controls``.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from neuroclip_live import defaults

if TYPE_CHECKING:  # torch loads with a model, not with the controls (a frames-only run starts without it)
    from neuroclip_live.model.classifier_setup import ClassifierSetup


@dataclass(frozen=True)
class Controls:
    """The user's live choices; immutable, so a thread that holds one reads it without a lock."""

    speed: float = defaults.SPEED  # a recording's replay speed factor; 0 = as fast as possible
    loop: bool = False
    paused: bool = False
    noise_filter_us: int | None = None  # background-activity filter window; None = off
    labels: tuple[str, ...] = ()  # asked for; () = none (a trained adapter's own classes, if any)
    templates: str | None = None  # template set name or a custom template; None = the default set
    ensemble: bool = True  # average the text features over the set's templates
    where: bool = False  # give each timestep's relevance maps (the event view's Where toggle, --where)
    where_label: str | None = None  # the label whose map the window draws; None = the most probable one
    # "None of these": a window whose top probability is below this has no top label ("–", ``top`` []); 0 = off.
    min_confidence: float = 0.0
    # A taught adapter and its classes scored instead of the labels (``model.classifier_setup.ClassifierSetup``,
    # compared by identity); None: the labels. The labels stay as typed, to return to.
    taught: ClassifierSetup | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.speed, int | float) and math.isfinite(self.speed) and self.speed >= 0):
            raise ValueError(f"replay speed must be 0 (as fast as possible) or positive, not {self.speed!r}")
        if self.noise_filter_us is not None and not self.noise_filter_us > 0:
            raise ValueError(f"the noise filter's window must be positive (None: off), not {self.noise_filter_us}")
        if not isinstance(self.labels, tuple):
            raise TypeError(f"labels must be a tuple of strings, not {type(self.labels).__name__}")
        if not (isinstance(self.min_confidence, int | float) and 0.0 <= self.min_confidence <= 1.0):
            raise ValueError(f"the minimum confidence is a probability in [0, 1], not {self.min_confidence!r}")


FIELDS = frozenset(f.name for f in fields(Controls))


@dataclass(frozen=True)
class ControlsChange:
    """One update: the record before and after it."""

    old: Controls
    new: Controls

    @property
    def changed(self) -> frozenset[str]:
        return frozenset(name for name in FIELDS if getattr(self.old, name) != getattr(self.new, name))


Listener = Callable[[ControlsChange], None]


class ControlsModel:
    """The one owner of a session's ``Controls``: ``update`` replaces the record, listeners hear of it.

    Updates come from the thread that drives the run (the GUI's, or a headless caller's);
    listeners run on it, after the record changed. Listeners given as bound methods are held
    weakly, as napari's events hold theirs, so a closed widget does not outlive its window.
    """

    def __init__(self, initial: Controls | None = None) -> None:
        self._value = initial if initial is not None else Controls()
        self._lock = threading.Lock()  # one update at a time, whichever thread sends it
        self._listeners: list[tuple[frozenset[str], Callable[[], Listener | None]]] = []

    @property
    def value(self) -> Controls:
        return self._value

    def update(self, **changes: Any) -> Controls:
        """Replace the record with these fields changed; the listeners of changed fields are told."""
        with self._lock:
            old = self._value
            self._value = new = replace(old, **changes)
            self._listeners = [entry for entry in self._listeners if entry[1]() is not None]  # closed widgets go
            listeners = list(self._listeners)
        change = ControlsChange(old, new)
        changed = change.changed
        if changed:
            for names, ref in listeners:
                fn = ref()
                if fn is not None and (not names or names & changed):
                    fn(change)
        return new

    def subscribe(self, fn: Listener, *names: str) -> Callable[[], None]:
        """Call ``fn(change)`` after each update that changes one of ``names`` (any field when none).

        Returns the call that unsubscribes it.
        """
        unknown = set(names) - FIELDS
        if unknown:
            raise ValueError(f"Controls has no field {', '.join(sorted(unknown))}")
        ref: Callable[[], Listener | None]
        if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
            ref = weakref.WeakMethod(fn)  # type: ignore[arg-type]
        else:

            def ref() -> Listener:  # a plain function or lambda is held strongly
                return fn

        entry = (frozenset(names), ref)
        with self._lock:
            self._listeners.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return unsubscribe
