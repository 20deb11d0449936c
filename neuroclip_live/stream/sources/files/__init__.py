"""Recordings: one reader per file format, each turning its file into ``EVENT_DTYPE`` packets.

A reader here knows its format's layout and decodes it (with faery or dv-processing where they
read the format, by hand where they do not or stop at damage). What repairs or guards a damaged
file lives in ``repair``; ``dv_interop`` is the one crossing of the dv-processing boundary, which
the live iniVation sources use too; the extension that picks a reader is in ``stream.formats``.
"""
