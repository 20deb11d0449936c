"""``neuroclip-live search``: when does each label show in a recording?

It replays the recording at full speed through the live app's framer, classifier and alpha
window and prints, for each label, the time ranges where it is the window's top label with
probability ≥ P (``offline.search``). The per-timestep features are kept in the feature cache, so
a second search of the same recording, with any labels, encodes no image.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from neuroclip_live import defaults
from neuroclip_live.cli.arguments import add_model_arguments, model_settings, positive_int, probability, timestep
from neuroclip_live.errors import NeuroclipError

if TYPE_CHECKING:
    from neuroclip_live.offline.search import SearchReport

MIN_CONFIDENCE = 0.5


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "search",
        prog="neuroclip-live search",
        help="find when labels show in a recording",
        description="Find when each label shows in a recording: the time ranges where it is the window's top label.",
    )
    p.add_argument("--file", required=True, metavar="REC", help="the recording to search")
    p.add_argument(
        "--labels",
        help="comma- or newline-separated labels, e.g. 'cat, dog, car' (default: an --adapter's classes, else the "
        "model's own, such as tiny-digits')",
    )
    p.add_argument("--labels-file", metavar="PATH", help="labels one per line (added to --labels)")
    p.add_argument("--timestep", type=timestep, default=defaults.TIMESTEP, metavar="SIZE", help="'30ms' or '2000ev'")
    p.add_argument("-T", type=positive_int, default=defaults.T, help="timesteps in the window")
    p.add_argument(
        "--min-confidence",
        type=probability,
        default=MIN_CONFIDENCE,
        metavar="P",
        help="a label counts where it is the window's top label with at least this probability",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per range: label, t_start_us, t_end_us, peak")
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="where the recording's features are kept for the next search (default: the feature cache, "
        "$XDG_CACHE_HOME/neuroclip-live/features)",
    )
    add_model_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    p.set_defaults(handler=run)
    return p


def _classifier(args: argparse.Namespace) -> Any:
    """The live app's classifier for these options (its loader, its choice of labels); one line when unusable."""
    from neuroclip_live.runtime.config import RunConfig, read_labels
    from neuroclip_live.stream.sources.base import SourceSpec

    labels = read_labels(args.labels, args.labels_file)  # an empty list is refused there, in one line
    config = RunConfig(SourceSpec("file", args.file), args.timestep, args.T, labels=labels, model=model_settings(args))
    controls = config.initial_controls()
    if not config.wants_model(controls.labels):
        raise NeuroclipError(
            "search needs labels: give --labels 'a, b, c' or --labels-file PATH "
            f"({config.model.name} has none of its own)"
        )
    return config.classifier_loader(controls)()


def run(args: argparse.Namespace) -> int:
    from neuroclip_live.offline.kept_features import KeptFeatureStore
    from neuroclip_live.offline.search import search_recording
    from neuroclip_live.stream.sources import open_file

    with open_file(args.file) as source:  # a missing, empty or unreadable recording fails before the model loads
        origin = source.time_range[0]
    classifier = _classifier(args)
    for note in getattr(classifier, "setup_notes", []):
        print(f"note: {note}", file=sys.stderr)
    store = KeptFeatureStore(args.cache)  # None: the feature cache's default folder
    with _ProgressBar() as bar:
        report = search_recording(
            args.file, classifier, args.timestep, args.T, args.min_confidence, store, on_batch=bar.show
        )
    _print(report, origin, args.json)
    _summary(report, origin)
    return 130 if report.outcome.interrupted else 0


def _print(report: SearchReport, origin: int, as_json: bool) -> None:
    from neuroclip_live.offline.search import range_lines

    if as_json:
        for ranges in report.by_label().values():
            for r in ranges:
                print(json.dumps(r.as_json()))
    else:
        print("\n".join(range_lines(report, origin)))
    sys.stdout.flush()


def _summary(report: SearchReport, origin: int) -> None:
    outcome = report.outcome
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    rows = outcome.rows
    seconds = (int(rows.t_end_us[-1]) - origin) / 1e6 if len(rows) else 0.0
    how = "kept features, no image encoded" if outcome.reused else "encoded"
    text = f"{len(rows)} timesteps ({seconds:.3f} s of the recording) in {outcome.seconds:.2f} s, {how}"
    if outcome.interrupted:
        text += f"; interrupted: what was found up to {seconds:.3f} s"
    print(f"neuroclip-live search: {text}", file=sys.stderr)


class _ProgressBar:
    """A bar on the terminal (none when stderr is not one), in seconds of the recording."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="s", desc="search", disable=None, leave=False, bar_format=None)
        self._done = 0.0

    def show(self, progress: Any, rows: Any) -> None:
        t0, t1 = progress.time_range
        total = round(max(t1 - t0, 0) / 1e6, 3)
        if self._bar.total != total:
            self._bar.reset(total=total)
        done = round(progress.fraction * total, 3)
        self._bar.update(done - self._done)
        self._done = done

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()
