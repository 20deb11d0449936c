"""Keep the Rust decoders' panic text off the terminal.

faery's Rust code prints a panic message and backtrace straight to file
descriptor 2 before pyo3 turns the panic into an exception; Python cannot
intercept that write. So stderr is pointed at a temporary file while a
decoder runs; afterwards whatever landed there that is not panic text is
written on to the real stderr (other threads' output is delayed, not lost),
and the exception becomes our one line as usual.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# fd 2 is one per process: nested or concurrent guards share one capture.
_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture: int | None = None  # a raw fd (no file object, so nothing to warn about at exit)

_PANIC_MARKERS = (b"panicked at", b"stack backtrace", b"RUST_BACKTRACE", b"\n   ", b"  at ")


def _is_panic_line(line: bytes) -> bool:
    stripped = line.lstrip()
    return any(m in line for m in _PANIC_MARKERS) or (stripped[:1].isdigit() and b": " in stripped[:8])


def _forward(data: bytes, fd: int) -> None:
    if b"panicked at" in data:
        # Drop the panic block: the message line, the assertion, the backtrace lines.
        data = b"".join(line for line in data.splitlines(keepends=True) if not _is_panic_line(line))
        data = b"".join(
            line for line in data.splitlines(keepends=True) if line.strip() and not line.startswith(b"assertion")
        )
    if data:
        os.write(fd, data)


@contextmanager
def contained_panics() -> Iterator[None]:
    """Run the block with fd 2 captured; anything but panic text is passed on afterwards."""
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                if _capture is None:
                    fd, name = tempfile.mkstemp(prefix="neuroclip-stderr-")
                    os.unlink(name)  # kept open, nameless: one file serves every guard
                    _capture = fd
                _saved_fd = os.dup(2)
                os.dup2(_capture, 2)
            except OSError:  # no fd 2 (a GUI without a console): nothing to protect
                _saved_fd = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None and _capture is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None
                size = os.lseek(_capture, 0, os.SEEK_END)
                if size:
                    os.lseek(_capture, 0, os.SEEK_SET)
                    _forward(os.read(_capture, size), 2)
                    os.ftruncate(_capture, 0)
                    os.lseek(_capture, 0, os.SEEK_SET)


def guarded(chunks: Iterator) -> Iterator:
    """``chunks`` with every step taken inside ``contained_panics`` (not the consumer's work between)."""
    it = iter(chunks)
    while True:
        with contained_panics():
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


def is_library_error(err: BaseException) -> bool:
    """True for what faery raises on bad input.

    Its Rust code raises RuntimeError, and on unimplemented paths panics with
    pyo3's PanicException, which derives from BaseException (not Exception).
    """
    return isinstance(err, Exception) or type(err).__name__ == "PanicException"
