"""The defaults that more than one module states: the command line's, the configs' and the signatures'.

A default written in several places drifts apart (T = 10 was written in 14, the 30 ms timestep in
5); here each is written once. A value that only one module uses stays beside its use.
"""

T = 10  # timesteps in a window (NeuroCLIP's); the scores combine the last T frames
TIMESTEP = "30ms"  # how a stream is cut, as typed on the command line (``TimestepRule.parse`` reads it)
SPEED = 1.0  # a recording replays at its own pace; 0 is as fast as the model allows
