"""The model side: CLIP loading, frame preprocessing, prompts, the LIF adapter, the streaming classifier.

No events I/O, no Qt.
"""
