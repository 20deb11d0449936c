"""The committed tiny CLIP (tiny-digits): its files, its training preprocessing, and that it knows digits and shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuroclip_live.events import SensorSize
from neuroclip_live.tinyclip.training import DEFAULT_OUT, MODEL_CONFIG, MODEL_NAME


def test_training_preprocessing_pads_with_background_and_resizes():
    from neuroclip_live.tinyclip.training import (
        normalise,
        pad_resize,
        preprocess_frames,
    )

    frame = np.full((30, 50), 255, dtype=np.uint8)
    x = pad_resize(frame[None], 64)
    assert x.shape == (1, 1, 64, 64)
    assert float(x[0, 0, 0, 32]) == pytest.approx(127.0)  # padding above the frame
    assert float(x[0, 0, 32, 32]) == pytest.approx(255.0)
    y = preprocess_frames(frame[None], 64)  # the inference path (neuroclip_live.model.preprocess)
    assert y.shape == (1, 3, 64, 64)
    assert np.allclose(y.numpy(), normalise(x).numpy(), atol=1e-5)


def test_committed_model_files():
    config = json.loads((DEFAULT_OUT / f"{MODEL_NAME}.json").read_text())
    assert config == MODEL_CONFIG
    weights = DEFAULT_OUT / f"{MODEL_NAME}.safetensors"
    assert weights.stat().st_size < 10_000_000
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        import torch

        assert (
            all(f.get_slice(k).get_dtype() == "F16" for k in f.keys())  # noqa: SIM118 - safe_open is not a dict: keys() is its only listing
            and f.get_tensor("logit_scale").dtype == torch.float16
        )


@pytest.mark.slow
def test_committed_model_recognises_synthetic_event_frames():
    import torch

    from neuroclip_live.tinyclip import synthetic
    from neuroclip_live.tinyclip.training import (
        all_class_text_features,
        create_model,
        preprocess_frames,
    )

    torch.manual_seed(0)
    model, tokenizer = create_model(DEFAULT_OUT, DEFAULT_OUT / f"{MODEL_NAME}.safetensors")
    model.eval()
    rng = np.random.default_rng(12345)
    labels = np.tile(np.arange(len(synthetic.CLASSES)), 5)
    frames = np.stack([synthetic.event_frame(int(c), SensorSize(34, 34), rng) for c in labels])
    with torch.no_grad():
        image = model.encode_image(preprocess_frames(frames, 64), normalize=True)
        pred = (image @ all_class_text_features(model, tokenizer).T).argmax(1).numpy()
    # Chance is 1/16; the trained model gets most of these right.
    assert (pred == labels).mean() > 0.6
