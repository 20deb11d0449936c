"""Teaching's core: examples in memory, the one fit loop in a background thread, the swap into a running classifier."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import PROJECT_ROOT
from neuroclip_live.cli import main
from neuroclip_live.errors import DataError, ModelError
from neuroclip_live.model.adapter import InterTimestepAdapter, load_adapter
from neuroclip_live.model.classifier_setup import apply_setup, setup_of
from neuroclip_live.model.settings import ModelSettings
from neuroclip_live.offline.clips import Segment, cut_recording
from neuroclip_live.offline.datasets import load_split
from neuroclip_live.offline.examples import ORIGIN_FILE, ExampleSet, ExamplesOrigin, class_folder, read_origin
from neuroclip_live.offline.fewshot import load_text_model
from neuroclip_live.offline.teaching import TEACH_SETTINGS, train_examples, trained_setup
from neuroclip_live.offline.training import FitCancelled, FitProgress
from neuroclip_live.stream.framing import TimestepRule
from test_pipeline import run_until

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"
CLASSES = ("my mug", "bravo", "zulu")  # the sample's 0, 7 and circle
SETTINGS = replace(TEACH_SETTINGS, seed=3, epochs=3, views=2)  # jitter on, as teaching trains by default


@pytest.fixture(scope="module")
def examples() -> ExampleSet:
    segments = [Segment(name, k, k + 0.6, k) for k, name in enumerate(CLASSES)]
    return cut_recording(SAMPLE, segments, TimestepRule("time", 30_000), 10, stride_us=100_000).examples


@pytest.fixture(scope="module")
def text_model(examples):
    split = examples.as_split()
    return load_text_model(ModelSettings("tiny-digits", device="cpu"), split.folders, split.classes, None)


def test_examples_in_memory_train_the_adapter_that_train_gives_on_them_saved(examples, text_model, tmp_path):
    trained = train_examples(examples, text_model, SETTINGS, shots_per_class=2, val_per_class=1)
    root = tmp_path / "saved"
    examples.save(root)
    assert (root / "classes.txt").read_text().splitlines() == ["bravo: bravo", "my_mug: my mug", "zulu: zulu"]
    assert load_split(root, "Train").classes == list(trained.info.classes) == ["bravo", "my mug", "zulu"]
    out = tmp_path / "a.safetensors"
    assert (
        main(
            [
                "train",
                "--data",
                str(root),
                "--cut",
                "time",
                "--centre",
                "--jitter",
                "--seed",
                "3",
                "--epochs",
                "3",
                "--views",
                "2",
                "--shots",
                "2",
                "--val-per-class",
                "1",
                "--model",
                "tiny-digits",
                "--device",
                "cpu",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved, info = load_adapter(out, "tiny-digits", 128)
    mine, theirs = trained.adapter.state_dict(), saved.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert info.alpha == trained.info.alpha and info.classes == trained.info.classes
    assert [p for p, _ in info.data["samples"]] == [p for p, _ in trained.info.data["samples"]]


def test_the_fit_runs_in_a_thread_reports_each_epoch_and_can_be_cancelled(examples, text_model):
    epochs, cancel = [], threading.Event()

    def on_epoch(done, total, loss):
        epochs.append((done, total))
        if done == 2:
            cancel.set()

    outcome = {}

    def work():
        try:
            train_examples(examples, text_model, SETTINGS, 2, 1, FitProgress(on_epoch=on_epoch, cancel=cancel))
        except FitCancelled as err:
            outcome["error"] = err

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(120)
    assert epochs == [(1, 3), (2, 3)]
    assert "cancelled" in str(outcome["error"])


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_an_empty_class_name_is_refused_in_one_line(examples, name):
    with pytest.raises(DataError, match="empty or only spaces"):
        ExampleSet(examples.size).add(name, examples.examples("zulu")[0])


def test_fewer_than_two_classes_cannot_train(examples, text_model, tmp_path, capsys):
    one = ExampleSet(examples.size)
    for ev in examples.examples("zulu"):
        one.add("zulu", ev)
    split = one.as_split()
    tm = load_text_model(ModelSettings("tiny-digits", device="cpu"), split.folders, split.classes, None)
    with pytest.raises(DataError, match="at least 2 classes"):
        train_examples(one, tm, SETTINGS, 2, 1)
    one.save(tmp_path / "one")
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "one"),
                "--model",
                "tiny-digits",
                "--shots",
                "2",
                "--out",
                str(tmp_path / "a.safetensors"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "at least 2 classes" in err and "\n" not in err


def test_saving_appends_and_an_unwritable_place_is_one_line(examples, tmp_path):
    examples.save(tmp_path / "r")
    examples.save(tmp_path / "r")  # a second save keeps the first one's files
    names = sorted(p.name for p in (tmp_path / "r" / "Train" / "zulu").iterdir())
    assert len(names) == 2 * examples.counts()["zulu"] and names[0] == "00000.aedat4"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot write examples under"):
        examples.save(blocker / "r")


def test_the_examples_origin_is_written_and_read_back_and_anything_else_is_none(examples, tmp_path):
    """What tells ``train`` that a folder holds a session's examples (their T and cut; the teaching recipe)."""
    origin = ExamplesOrigin(10, "time", "clips")
    examples.save(tmp_path / "r", origin=origin)
    assert read_origin(tmp_path / "r") == origin
    assert read_origin(tmp_path / "elsewhere") is None
    for text in ("{", "[]", '{"T": 0, "cut": "time", "made_by": "x"}', '{"T": 3, "cut": "sideways", "made_by": "x"}'):
        (tmp_path / "r" / ORIGIN_FILE).write_text(text)
        assert read_origin(tmp_path / "r") is None, text


def test_class_names_become_safe_folders_and_clashes_are_refused(examples):
    assert class_folder(" the red/robot ") == "the_red_robot"
    ex = ExampleSet(examples.size)
    ex.add("my mug", examples.examples("zulu")[0])
    with pytest.raises(DataError, match="share the folder 'my_mug'"):
        ex.add("my_mug", examples.examples("zulu")[0])
    ex.remove("my mug", 0)
    assert ex.counts() == {}


def test_a_trained_adapter_swaps_into_a_running_classifier_and_back(examples, text_model):
    from neuroclip_live.model.classifier import StreamingClassifier
    from neuroclip_live.runtime.config import RunConfig
    from neuroclip_live.runtime.pipeline import Pipeline
    from neuroclip_live.stream.sources import SourceSpec, open_source

    trained = train_examples(examples, text_model, SETTINGS, 2, 1)
    clf = StreamingClassifier(text_model.backbone, "0, 7, circle, star")
    before: dict = {}

    def swap(c):
        before["setup"] = setup_of(c)
        apply_setup(c, trained_setup(trained))

    def wrong_adapter(c):
        apply_setup(
            c, trained_setup(trained).__class__(("a", "b"), ("{}",), True, InterTimestepAdapter(64), np.full(10, 0.1))
        )

    cfg = RunConfig(speed=4.0, loop=True)
    with Pipeline(lambda: open_source(SourceSpec("file", str(SAMPLE))), cfg, lambda: clf) as p:
        assert run_until(p, lambda: _labels(p) == ["0", "7", "circle", "star"])
        p.call_classifier(swap)
        assert run_until(p, lambda: _labels(p) == ["bravo", "my mug", "zulu"])
        assert clf.adapter is trained.adapter
        p.call_classifier(wrong_adapter)  # refused: the taught classes keep running
        time.sleep(0.3)
        assert _labels(p) == ["bravo", "my mug", "zulu"] and clf.adapter is trained.adapter
        p.call_classifier(lambda c: apply_setup(c, before["setup"]))
        assert run_until(p, lambda: _labels(p) == ["0", "7", "circle", "star"])
    assert clf.adapter is None
    with pytest.raises(ModelError, match="64-d features"):
        wrong_adapter(clf)


def test_taught_classes_in_the_controls_switch_at_once_survive_a_rebuild_and_return_to_edited_labels(
    examples, text_model
):
    """``Controls.taught`` (one owner, the ControlsModel): the worker follows it; label edits made meanwhile wait."""
    from neuroclip_live.model.classifier import StreamingClassifier
    from neuroclip_live.runtime.config import RunConfig
    from neuroclip_live.runtime.controls import Controls, ControlsModel
    from neuroclip_live.runtime.pipeline import Pipeline
    from neuroclip_live.stream.sources import SourceSpec, open_source

    taught = trained_setup(train_examples(examples, text_model, SETTINGS, 2, 1))
    controls = ControlsModel(Controls(speed=4.0, loop=True, labels=("0", "7", "circle")))

    made: list[StreamingClassifier] = []

    def pipeline() -> Pipeline:  # as a session makes one: its classifier from the controls' labels
        made.append(StreamingClassifier(text_model.backbone, list(controls.value.labels or taught.labels)))
        return Pipeline(
            lambda: open_source(SourceSpec("file", str(SAMPLE))), RunConfig(), lambda: made[-1], controls=controls
        )

    assert taught.centred  # taught as the Teach panel teaches: on frames centred on their events ...
    with pipeline() as p:
        assert run_until(p, lambda: _labels(p) == ["0", "7", "circle"])
        assert not made[-1].centred
        controls.update(taught=taught)
        assert run_until(p, lambda: _labels(p) == ["bravo", "my mug", "zulu"])
        assert made[-1].centred  # ... so the live classifier centres its frames while it runs them
        controls.update(labels=("0", "star"))  # typed while the taught classes run: kept for the return
        time.sleep(0.3)
        assert _labels(p) == ["bravo", "my mug", "zulu"]
    with pipeline() as p:  # a rebuilt pipeline (new settings) goes on with the taught classes
        assert run_until(p, lambda: _labels(p) == ["bravo", "my mug", "zulu"])
        assert made[-1].centred
        controls.update(taught=None)
        assert run_until(p, lambda: _labels(p) == ["0", "star"])
        assert not made[-1].centred  # the typed labels run on the frames as they are


def _labels(pipeline):
    result = pipeline.snapshot().result
    return None if result is None or result.scores is None else result.scores.labels
