"""How many torch threads a CPU workload gets.

One torch thread per core only pays for large ops. For small models and the
adapter the ops are so short that splitting them costs more than it saves,
and far more when other processes share the cores: on the project's shared
2-core machine (``benchmarks/bench_threads.py``, README "Speed"), with torch's
default spinning wait, tiny-digits' ``encode_image`` took 255 ms a frame with
2 threads against 40 ms with 1, and adapter training 47 s an epoch against
2.0 s. Idle threads now sleep (``OMP_WAIT_POLICY=PASSIVE``, set in
``neuroclip_live/__init__.py``), which removes most of that, but one thread
stays the better choice for small work. So: small models and the adapter run
on one thread, large encoders (RN50, ViT-B) on one thread per core, and
``--threads`` overrides both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# tiny-digits has 4.1 M parameters, the smallest open_clip model (RN50) 102 M: anything in
# between is "small" well before it is large enough for one core's op to be worth splitting.
SMALL_MODEL_PARAMS = 20_000_000
ADAPTER_THREADS = 1


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_for_model(n_params: int, requested: int | None = None) -> int:
    """Torch threads for a CPU encoder of ``n_params`` parameters; ``requested`` (``--threads``) wins."""
    if requested is not None:
        return max(1, int(requested))
    return 1 if n_params < SMALL_MODEL_PARAMS else cpu_cores()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous count."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
