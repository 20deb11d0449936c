"""The ``neuroclip-live`` console script.

It lives in the UI layer so the core stays free of Qt: headless runs, ``train``
and ``evaluate`` never import Qt; the window is imported only when opened.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from neuroclip_live import cli

if TYPE_CHECKING:  # the runtime imports numba and the readers: not for --help
    from neuroclip_live.runtime.config import RunConfig


def _open_window(config: RunConfig) -> int:
    from ui.app import run_app  # Qt is imported here, and only here

    return run_app(config)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, gui=_open_window)


if __name__ == "__main__":
    sys.exit(main())
