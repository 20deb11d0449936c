"""Make ``docs/screenshot.png``: the window streaming the sample recording with the tiny-digits model.

    python -m ui.docs_screenshot [--out docs/screenshot.png] [--digit 3] [--window-mode] [--colour]

``--screenshot`` on the command line saves the window when ``--exit-after`` ends;
for the documentation this waits instead until a digit of the sample is on
screen and the model names it, so the picture shows recognition at work.
The sample's schedule (recordings/README.md): digit 0 in 0-1 s, 7 in 1-2 s, the circle and
the star, 3 in 4-5 s: waiting for the "3" puts the earlier objects' curves in the plot.
The window is a laptop screen's 1280×720 in its default view (the newest frame, grey: what
the model sees, with the recording's APS frame beside it), as a user first sees it; the flags
show the T-frame mosaic or colour polarity instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings

from neuroclip_live.cli.run import config_from_argv
from ui import app as app_module

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recordings" / "sample.aedat4"
DIGIT_TIMES_S = {"0": (0.3, 1.0), "7": (1.3, 2.0), "3": (4.3, 5.0)}  # shown, with time for the window to fill
SIZE = (1280, 720)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    p.add_argument("--digit", choices=sorted(DIGIT_TIMES_S), default="3", help="wait until this digit is named")
    p.add_argument("--window-mode", action="store_true", help="the T-frame mosaic instead of the newest frame")
    p.add_argument("--colour", action="store_true", help="colour polarity instead of the model's 127/255/0 input")
    p.add_argument("--timeout", type=float, default=120.0)
    opts = p.parse_args(argv)
    config = config_from_argv(["--file", str(SAMPLE), "--model", "tiny-digits", "--loop"])
    app = app_module.application()
    # Throwaway settings: the picture must not depend on (or change) the user's recent files and layout.
    scratch = tempfile.TemporaryDirectory()
    settings = QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat)
    window = app_module.MainWindow(config, settings=settings)
    window.resize(*SIZE)
    app_module.prepare_window(window, config)
    if opts.window_mode:
        window.event_view.set_window_mode(True)
    if opts.colour:
        window.event_view.set_colour(True)
    window.show()
    deadline = time.monotonic() + opts.timeout
    caught = None
    while time.monotonic() < deadline and caught is None:
        app.processEvents()
        time.sleep(0.005)
        snap = window.session.latest
        if snap is None or snap.result is None or snap.result.scores is None:
            continue
        t = snap.result.frame.t_end_us / 1e6
        top = snap.result.scores.top(1)[0][0]
        span = DIGIT_TIMES_S[opts.digit]
        if top == opts.digit and span[0] <= t <= span[1] and snap.position_us / 1e6 - t < 0.25:
            caught = (top, t)
    # No more event processing: the snapshot just checked is the one on screen (the next could be a later one).
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    ok = caught is not None and window.save_screenshot(opts.out)
    window.close()
    app_module.dispose(window)
    del settings
    scratch.cleanup()
    if not ok:
        print("no moment with a correctly named digit was seen; nothing saved", file=sys.stderr)
        return 1
    print(f"saved {opts.out}: '{caught[0]}' on top at t={caught[1]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
