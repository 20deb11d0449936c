"""``--labels-file`` through the command line: what editors write is read, what cannot be read is one line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from conftest import PROJECT_ROOT, SCORE_SAMPLE
from neuroclip_live.cli import main

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"


def scored_labels(path, capsys, caplog) -> tuple[list[str], str]:
    """The labels the bundled model scores with ``--labels-file path``, and the warnings and stderr."""
    caplog.set_level(logging.WARNING)
    rc = main(
        [
            *SCORE_SAMPLE,
            "--max-steps",
            "1",
            "--labels-file",
            str(path),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    [row] = [json.loads(line) for line in out.splitlines() if line.strip()]
    return list(row["scores"]), caplog.text + err


@pytest.mark.parametrize(
    ("content", "labels"),
    [
        (b"zero\none\ntwo\n", ["zero", "one", "two"]),  # a normal file: its last line ends with a newline
        (b"# digits\nzero\n\n  # not a label\none, two\n", ["zero", "one", "two"]),  # comments, blank lines
        (b"\xef\xbb\xbfzero\none\n", ["zero", "one"]),  # a UTF-8 byte-order mark (Notepad)
        (b"zero\r\none\r\ntwo", ["zero", "one", "two"]),  # CRLF line ends, no newline at the end
        ("zéro\nun\n".encode("utf-16"), ["zéro", "un"]),  # UTF-16 with its mark (Windows "Unicode")
    ],
)
def test_a_labels_file_is_read_as_its_editor_wrote_it(tmp_path, capsys, caplog, content, labels):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    scored, said = scored_labels(path, capsys, caplog)
    assert scored == labels
    assert "WARNING" not in said and "\ufeff" not in "".join(scored)  # no "ignored 1 empty label"


def test_labels_from_the_file_and_the_command_line_are_merged(tmp_path, capsys, caplog):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"zero\none\n")
    caplog.set_level(logging.WARNING)
    rc = main(
        [
            *SCORE_SAMPLE,
            "--max-steps",
            "1",
            "--labels-file",
            str(path),
            "--labels",
            "One, seven",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert list(json.loads(out.splitlines()[0])["scores"]) == ["zero", "one", "seven"]
    assert "merged duplicate label 'One' into 'one'" in caplog.text


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "holds no labels"),
        (b"# only a comment\n\n", "holds no labels"),
        (b"caf\xe9\nthe\n", "is not UTF-8 text (byte 0xe9 at offset 3)"),
        (b"\x00\x9f\x92\x96" * 100, "is not UTF-8 text (byte 0x9f at offset 1)"),
    ],
)
def test_an_unusable_labels_file_is_one_line_and_exit_status_2(tmp_path, capsys, content, says):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    assert main(["--file", str(SAMPLE), "--headless", "--model", "tiny-digits", "--labels-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_a_missing_labels_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    assert main(["--file", str(SAMPLE), "--headless", "--labels-file", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read label file" in err and "No such file" in err


def test_bad_bytes_in_a_fresh_process_print_no_traceback(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café\nthé\n".encode("latin-1"))
    proc = subprocess.run(
        [sys.executable, "-m", "ui.launch", "--file", str(SAMPLE), "--headless", "--labels-file", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "not UTF-8 text" in proc.stderr
