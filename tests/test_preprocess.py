"""Frames to CLIP input: padding with the background, resizing and normalisation, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroclip_live.model.preprocess import (
    OPENAI_MEAN,
    OPENAI_STD,
    FramePreprocessor,
    pad_to_aspect,
)

MEAN = torch.tensor(OPENAI_MEAN)
STD = torch.tensor(OPENAI_STD)


def test_pad_wide_frame_to_square_adds_rows_of_background_centred():
    frame = torch.tensor([[[0, 255, 0, 255], [255, 0, 255, 0]]], dtype=torch.uint8)  # 2 x 4
    padded = pad_to_aspect(frame, 4, 4)
    expected = torch.tensor(
        [[[127, 127, 127, 127], [0, 255, 0, 255], [255, 0, 255, 0], [127, 127, 127, 127]]], dtype=torch.uint8
    )
    assert torch.equal(padded, expected)


def test_pad_tall_frame_puts_the_odd_column_on_the_right():
    frame = torch.zeros((1, 3, 2), dtype=torch.uint8)
    padded = pad_to_aspect(frame, 8, 8)
    assert padded.shape == (1, 3, 3)
    assert torch.equal(padded[0, :, :2], frame[0])
    assert torch.all(padded[0, :, 2] == 127)


def test_pad_to_a_wide_model_input_keeps_the_aspect_ratio():
    frame = torch.zeros((1, 4, 4), dtype=torch.uint8)
    padded = pad_to_aspect(frame, 2, 4)  # model input 2 x 4: the square frame needs 2 columns each side
    assert padded.shape == (1, 4, 8)
    assert torch.all(padded[0, :, :2] == 127) and torch.all(padded[0, :, 6:] == 127)


def test_hand_computed_pad_and_normalise_without_resize():
    # 1 x 2 frame [255, 0] -> padded to 2 x 2 with a background row below -> normalised per channel.
    pre = FramePreprocessor(2)
    out = pre(np.array([[[255, 0]]], dtype=np.uint8))
    pixels = torch.tensor([[1.0, 0.0], [127 / 255, 127 / 255]])
    expected = (pixels[None] - MEAN.view(3, 1, 1)) / STD.view(3, 1, 1)
    assert out.shape == (1, 3, 2, 2)
    assert torch.allclose(out[0], expected, atol=1e-6)
    # Red channel, top-left: (1 - 0.48145466) / 0.26862954
    assert out[0, 0, 0, 0].item() == pytest.approx(1.9303, abs=1e-4)


def test_hand_computed_antialiased_downsample():
    # 4 -> 2 px, bilinear with antialiasing: a triangle filter twice as wide; output pixel 0 is centred at
    # input 0.5, weights 1 - |d|/2 for inputs 0, 1, 2 = 0.75, 0.75, 0.25, normalised: 3/7, 3/7, 1/7.
    frame = np.array([[0, 255, 127, 127], [255, 0, 127, 255], [127, 127, 0, 0], [255, 127, 0, 255]], dtype=np.uint8)
    weights = torch.tensor([[3 / 7, 3 / 7, 1 / 7, 0.0], [0.0, 1 / 7, 3 / 7, 3 / 7]])
    resized = weights @ torch.tensor(frame, dtype=torch.float32) @ weights.T
    expected = (resized[None] / 255 - MEAN.view(3, 1, 1)) / STD.view(3, 1, 1)
    out = FramePreprocessor(2)(frame[None])
    assert torch.allclose(out[0], expected, atol=1e-5)


def test_events_at_the_sensor_corners_survive():
    # A 260 x 346 frame (DAVIS346) into a 32 px model: a centre crop would cut the left and right edges.
    frame = np.full((260, 346), 127, dtype=np.uint8)
    frame[:3, :3] = 255
    frame[:3, -3:] = 255
    frame[-3:, :3] = 0
    frame[-3:, -3:] = 0
    grey = FramePreprocessor(32)(np.full((1, 260, 346), 127, dtype=np.uint8))[0, 0]
    out = FramePreprocessor(32)(frame[None])[0, 0]
    # Padding puts 43 rows above and below the sensor: 43 / 346 * 32 = 4 model rows.
    top, bottom = 4, 27
    assert out[top, 0] > grey[top, 0] and out[top, -1] > grey[top, -1]
    assert out[bottom, 0] < grey[bottom, 0] and out[bottom, -1] < grey[bottom, -1]
    assert torch.allclose(out[0], grey[0])  # the padding rows stay pure background


def test_batch_equals_frames_one_by_one_and_channels_are_replicated():
    rng = np.random.default_rng(1)
    frames = rng.choice(np.array([0, 127, 255], dtype=np.uint8), size=(5, 20, 30))
    pre = FramePreprocessor(16)
    batch = pre(frames)
    singles = torch.cat([pre(f) for f in frames])  # a 2-d frame is a batch of one
    assert torch.equal(batch, singles)
    # Channel c = (x / 255 - mean_c) / std_c of the same grey image.
    grey = batch[:, 0] * STD[0] + MEAN[0]
    for c in (1, 2):
        assert torch.allclose(batch[:, c] * STD[c] + MEAN[c], grey, atol=1e-5)


def test_output_dtype_layout_and_bad_shape():
    pre = FramePreprocessor((8, 8), dtype=torch.float16, channels_last=True)
    out = pre(np.full((2, 8, 8), 127, dtype=np.uint8))
    assert out.dtype == torch.float16
    assert out.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        pre(np.zeros((1, 1, 8, 8), dtype=np.uint8))
