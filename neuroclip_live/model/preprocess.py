"""127/255/0 event frames to CLIP input tensors, batched, on the model's device, without PIL.

open_clip's stock transform goes through PIL and centre-crops, which cuts
about a quarter of a 346 x 260 frame away. Here a frame is padded with the
background value 127 to the model's aspect ratio (the whole sensor stays in
view), resized, replicated to 3 channels and normalised with the model's
mean and std.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip_live.events import BACKGROUND

# OpenAI CLIP's normalisation: open_clip's default when a model has no preprocess config.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def padding_for(h: int, w: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(padded height, padded width, top, left): an h x w frame padded, centred, to the aspect height:width.

    The smallest padded size that holds the frame at that aspect; a map over the model's input
    maps back to sensor pixels through it (``model.places``).
    """
    if h * width >= w * height:
        new_h, new_w = h, -(-h * width // height)
    else:
        new_h, new_w = -(-w * height // width), w
    return new_h, new_w, (new_h - h) // 2, (new_w - w) // 2


def pad_to_aspect(frames: torch.Tensor, height: int, width: int, value: float = BACKGROUND) -> torch.Tensor:
    """Pad (B, H, W) frames with ``value`` to the aspect ratio height:width, centred (as the tiny model was trained)."""
    h, w = frames.shape[-2:]
    new_h, new_w, top, left = padding_for(h, w, height, width)
    if new_h == h and new_w == w:
        return frames
    return F.pad(frames, (left, new_w - w - left, top, new_h - h - top), value=value)


class FramePreprocessor:
    """Turns (B, H, W) uint8 frames into a normalised (B, 3, S, S) batch for ``encode_image``.

    Resizing is bilinear with antialiasing: going from a large sensor down to
    224 px, plain bilinear samples only a 2 x 2 neighbourhood and loses most
    single-pixel events; the antialiasing filter averages them instead.
    Upsampling (N-MNIST's 34 px to 64 px) is the same as plain bilinear.
    """

    def __init__(
        self,
        image_size: int | Sequence[int],
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.size = (int(image_size[0]), int(image_size[1]))
        self.device = torch.device(device)
        self.dtype = dtype
        self.channels_last = channels_last
        # Folded into one multiply-add per channel: (x / 255 - mean) / std.
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = -mean_t / std_t

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(frames, np.ndarray):
            frames = np.ascontiguousarray(frames)  # torch refuses negative strides (a reversed view)
        x = torch.as_tensor(frames)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"frames must be (B, H, W), got shape {tuple(x.shape)}")
        # Move the uint8 frames (4x smaller than floats) to the device, then work there.
        x = x.to(self.device, non_blocking=True)
        x = pad_to_aspect(x, *self.size).to(torch.float32)[:, None]
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        x = torch.addcmul(self._shift, x, self._scale)  # broadcasts 1 channel to 3
        x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
