"""The live app without a window: reader and worker threads, the pipeline that wires them, the headless sink."""
