"""The event side: the event sources, replay pacing, the framer, noise filtering, recording, queues. No CLIP, no Qt."""
