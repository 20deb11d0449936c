"""neuroclip-live core: event sources, framing, CLIP + LIF inference. Never imports Qt."""

import os as _os

__version__ = "0.1.0"

# torch's OpenMP threads spin while they wait for work by default. On a machine whose cores are
# busy with other work, spinning threads take the CPU from the ones with work to do: on this
# project's shared 2-core machine under load, RN50 took 8.9 s a frame with 2 spinning threads and
# 0.6 s with 2 sleeping ones (benchmarks/bench_threads.py). libgomp reads the policy when torch is
# imported, hence here, before any module of ours imports torch; a value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
