"""The tiny-digits model's own world: the synthetic digits, shapes and event camera, and its training script.

The runtime never imports it.
"""
