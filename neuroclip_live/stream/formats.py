"""The recording formats read here: the one table of file extensions (light: it imports no reader).

``stream.sources`` maps each extension to its reader; the command line's help,
the window's open dialog and its start page list them from here.
"""

from __future__ import annotations

# Extension -> what such a file holds (and which library reads it).
FILE_FORMATS: dict[str, str] = {
    ".aedat4": "iniVation AEDAT4 (dv-processing)",
    ".raw": "Prophesee EVT 2.0 / 3.0 (faery)",
    ".dat": "Prophesee DAT",
    ".es": "Event Stream, DVS or ATIS",
    ".csv": "CSV events t,x,y,p (faery)",
    ".bin": "N-MNIST / N-Caltech101 binary",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(FILE_FORMATS)
FAERY_EXTENSIONS: tuple[str, ...] = (".raw", ".dat", ".es", ".csv")


def extensions_text() -> str:
    """'.aedat4, .raw, .dat, .es, .csv, .bin' for help texts."""
    return ", ".join(SUPPORTED_EXTENSIONS)
