"""Live sources: cameras (iniVation through dv-processing, Prophesee through neuromorphic-drivers)
and network streams, polled on the reader thread.

They have no end and cannot seek; a source that disappears says so and is reopened by the pipeline.
"""
