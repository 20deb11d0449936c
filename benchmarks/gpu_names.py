"""The GPU benchmark's section and variant names: plain data, so that its options are checked before torch loads."""

# In the order they run: Ray last, since it starts other processes and is the likeliest to hang.
SECTIONS = ("encoders", "step", "text", "replay_speed0", "replay_speed1", "variants", "ray")
VARIANTS = ("compile", "compile_graphs", "cuda_graph")  # see gpu_variants
