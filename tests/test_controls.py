"""The user's controls: one frozen record, one owner that replaces it, listeners told what changed.

A pipeline follows them.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import FrozenInstanceError

import pytest

from neuroclip_live.runtime.config import RunConfig
from neuroclip_live.runtime.controls import Controls, ControlsModel
from neuroclip_live.runtime.pipeline import Pipeline
from neuroclip_live.states import StreamState
from neuroclip_live.stream.framing import TimestepRule
from test_pipeline import FakeClassifier, ScriptedLiveSource, packet, run_until


def test_an_update_replaces_the_record_and_a_misspelt_field_fails_loudly():
    model = ControlsModel()
    first = model.value
    assert model.update(speed=2.0, loop=True) == Controls(speed=2.0, loop=True)
    assert first == Controls() and model.value is not first  # replaced, never changed in place
    with pytest.raises(TypeError, match="sped"):
        model.update(sped=4.0)
    with pytest.raises(ValueError, match="speed"):
        model.update(speed=-1.0)
    with pytest.raises(ValueError, match="noise"):
        model.update(noise_filter_us=0)
    with pytest.raises(TypeError, match="tuple"):
        model.update(labels=["cat"])
    with pytest.raises(FrozenInstanceError):  # frozen: nothing writes a field by name
        first.speed = 3.0  # type: ignore[misc]
    assert model.value == Controls(speed=2.0, loop=True)  # a refused update changed nothing


def test_listeners_hear_only_of_the_fields_they_asked_for():
    model = ControlsModel()
    heard: list[tuple[str, frozenset[str]]] = []
    model.subscribe(lambda c: heard.append(("speed", c.changed)), "speed")
    model.subscribe(lambda c: heard.append(("any", c.changed)))
    model.update(labels=("cat",))
    model.update(speed=4.0, loop=True)
    model.update(speed=4.0)  # no change: nobody is told
    both = frozenset({"speed", "loop"})
    assert heard == [("any", frozenset({"labels"})), ("speed", both), ("any", both)]
    with pytest.raises(ValueError, match="no field"):
        model.subscribe(print, "min_confidnce")


def test_unsubscribed_and_collected_listeners_are_not_called():
    model = ControlsModel()
    heard = []

    class View:
        def show(self, change):
            heard.append(change.new.speed)

    view = View()
    model.subscribe(view.show, "speed")  # a bound method is held weakly, as napari's events hold theirs
    stop = model.subscribe(lambda c: heard.append("lambda"), "speed")
    model.update(speed=2.0)
    stop()
    del view
    gc.collect()
    model.update(speed=3.0)
    assert heard == [2.0, "lambda"]


def test_a_run_config_gives_the_first_controls():
    config = RunConfig(speed=0.5, loop=True, labels=("cat", "dog"))
    assert config.initial_controls() == Controls(speed=0.5, loop=True, labels=("cat", "dog"))


def test_a_pipeline_follows_its_controls_speed_pause_and_labels(nmnist_root):
    from neuroclip_live.stream.sources.files.nmnist import NmnistFileSource

    path = min((nmnist_root / "Train" / "3").iterdir())
    controls = ControlsModel(Controls(speed=1.0, paused=True))
    p = Pipeline(lambda: NmnistFileSource(path), RunConfig(rule=TimestepRule("time", 10_000)), controls=controls)
    with p:
        assert run_until(p, lambda: p.state == StreamState.PAUSED)
        results = p.results(timeout=10)
        controls.update(speed=0, paused=False)  # as fast as possible, hence lossless: every timestep comes
        steps = list(results)
    events = NmnistFileSource(path).events
    span = int(events["t"][-1]) - int(events["t"][0])
    assert len(steps) >= span // 10_000 and p.state == StreamState.ENDED
    # A stopped pipeline no longer listens.
    controls.update(speed=2.0)
    assert p.snapshot().notice == ""


def test_a_label_change_during_the_model_load_is_applied_when_it_is_ready():
    release = threading.Event()

    def slow_load():  # made from the controls as they were: "a", "b"
        release.wait(5)
        return FakeClassifier()

    controls = ControlsModel()
    src = ScriptedLiveSource([packet(i * 10) for i in range(3)])
    with Pipeline(lambda: src, RunConfig(rule=TimestepRule("count", 10)), slow_load, controls=controls) as p:
        assert run_until(p, lambda: p.snapshot().stats.events_total == 30)  # read while the model loads
        controls.update(labels=("cat", "dog"))
        release.set()
        assert run_until(p, lambda: p.snapshot().stats.steps_total >= 1)
        assert p.snapshot().result.scores.labels == ["cat", "dog"]
