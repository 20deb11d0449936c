"""Label-free alignment on paired frames and events: pairing, training, agreement, recordings without frames."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from conftest import PROJECT_ROOT
from neuroclip_live.errors import DataError, NeuroclipError
from neuroclip_live.offline.align import (
    AlignConfig,
    align_adapter,
    encode_pairs,
    nearest_index,
    pair_recording,
    split_point,
    view_agreement,
)
from neuroclip_live.offline.training import TrainConfig

SAMPLE = PROJECT_ROOT / "recordings" / "sample.aedat4"


def test_nearest_index_by_hand():
    frames_t = np.array([0, 40, 80])
    assert nearest_index(frames_t, np.array([-5, 19, 20, 21, 79, 500])).tolist() == [0, 0, 0, 1, 2, 2]


def test_the_sample_recording_pairs_every_timestep_with_its_nearest_frame():
    paired = pair_recording(SAMPLE)
    assert len(paired) == 200  # 6 s in 30 ms timesteps
    assert paired.aps_images.shape == (150, 128, 128)  # 25 fps
    gap = np.abs(paired.aps_t_us[paired.aps_index] - paired.t_us)
    assert gap[:-1].max() <= 20_000  # the last timestep runs past the last frame
    assert set(np.unique(paired.event_frames).tolist()) <= {0, 127, 255}


def test_a_recording_without_frames_is_refused_in_one_line(tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample", PROJECT_ROOT / "recordings" / "make_sample.py")
    make_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_sample)
    events = make_sample.simulate(seed=0)[:20_000]
    out = tmp_path / "events-only.aedat4"
    make_sample.write_aedat4(events, out)
    with pytest.raises(DataError) as info:
        pair_recording(out)
    assert "holds no frames" in str(info.value) and "\n" not in str(info.value)


def test_split_point_holds_out_the_end():
    assert split_point(200, 0.7) == 140
    assert split_point(3, 0.99) == 2
    assert split_point(50, 1.0) == 50
    with pytest.raises(NeuroclipError, match="training share"):
        split_point(10, 0.0)


@pytest.fixture(scope="module")
def sample_pairs():
    from neuroclip_live.model.clip_model import load_clip
    from neuroclip_live.model.label_presets import default_labels
    from neuroclip_live.model.prompts import resolve_templates, text_features

    threads = torch.get_num_threads()
    bb = load_clip("tiny-digits", None, "cpu")
    torch.set_num_threads(1)
    events, frames = encode_pairs(bb, pair_recording(SAMPLE))
    text = text_features(bb, default_labels("tiny-digits"), resolve_templates(None)).cpu()
    yield events, frames, text, bb.logit_scale
    torch.set_num_threads(threads)


def test_alignment_pulls_event_features_toward_their_frames(sample_pairs):
    events, frames, text, scale = sample_pairs
    cfg = AlignConfig(train=TrainConfig(epochs=30, lr=0.05))
    adapter, history = align_adapter(events[:140], frames[:140], cfg)
    for term in ("feature", "tcka", "total"):
        assert np.mean(history[term][-3:]) < np.mean(history[term][:3]), term
    after = view_agreement(events[:140], frames[:140], 10, adapter, text, scale)
    assert after.timesteps == 140 and 0.0 <= after.agreement <= 1.0
    # Trained on these timesteps, the adapter's output is closer to the frames than a fresh adapter's.
    from neuroclip_live.model.adapter import InterTimestepAdapter

    torch.manual_seed(0)
    fresh = view_agreement(events[:140], frames[:140], 10, InterTimestepAdapter(events.shape[1]).eval())
    assert after.cosine > fresh.cosine + 0.1
    assert after.agreement is not None and fresh.agreement is None  # no text: cosine only


def test_alignment_with_a_fixed_seed_reproduces(sample_pairs):
    events, frames, _, _ = sample_pairs
    cfg = AlignConfig(train=TrainConfig(epochs=2, seed=3))
    a, _ = align_adapter(events[:60], frames[:60], cfg)
    b, _ = align_adapter(events[:60], frames[:60], cfg)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_too_few_timesteps_are_refused(sample_pairs):
    events, frames, _, _ = sample_pairs
    with pytest.raises(DataError, match="too few timesteps"):
        align_adapter(events[:10], frames[:10])


# ------------------------------------------------------------------ the command line


def test_align_command_writes_no_adapter_that_did_not_help_unless_told(tmp_path, capsys):
    from neuroclip_live.cli import main
    from neuroclip_live.model.adapter import load_adapter

    out = tmp_path / "aligned.safetensors"
    argv = ["align", "--file", str(SAMPLE), "--out", str(out), "--model", "tiny-digits", "--epochs", "2"]
    rc = main(argv)
    captured = capsys.readouterr()
    # Two epochs pull the held-out cosine down (0.730 -> 0.282) while the agreement gains one timestep.
    assert rc == 1 and not out.exists()
    assert "200 timesteps" in captured.out and "150 frames" in captured.out and "cosine" in captured.out
    assert "alignment did not help: the cosine fell" in captured.out
    err = captured.err.strip()
    assert "not written" in err and "--write-anyway" in err and "\n" not in err
    assert main([*argv, "--write-anyway"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    _, info = load_adapter(out, "tiny-digits", 128)
    assert info.classes == [] and info.transfer["mode"] == "align" and info.transfer["timesteps"] == 140
    assert info.transfer["helped"] is False


@pytest.mark.parametrize(
    ("before", "after", "held_out", "helped", "says"),
    [
        ((0.730, 0.917), (0.705, 0.900), True, False, "both held-out figures got worse"),
        ((0.568, 0.0), (0.712, 0.0), True, True, "the cosine rose"),
        ((0.5, None), (0.6, None), True, True, "the cosine rose"),
        ((0.5, 0.5), (0.5, 0.5), True, False, "did not change"),
        ((0.7, 0.5), (0.3, 0.6), True, False, "the cosine fell"),
        ((0.7, 0.5), (0.3, 0.4), False, True, "nothing was held out"),
    ],
)
def test_an_alignment_helped_when_a_held_out_figure_rose_and_none_fell(before, after, held_out, helped, says):
    from neuroclip_live.offline.align import ViewAgreement, judge_alignment

    verdict = judge_alignment(ViewAgreement(60, *before), ViewAgreement(60, *after), held_out)
    assert verdict.helped is helped and says in verdict.line


def test_align_help_says_what_seed_and_lambda_are(capsys):
    from neuroclip_live.cli import main

    with pytest.raises(SystemExit):
        main(["align", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--seed SEED seed of the adapter's initial weights" in text
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "see README" not in text and "(default 0, chosen on N-MNIST samples" in text


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--file", "{es}"], "holds no frames"),
        (["--file", "{missing}"], "no such file"),
        (["--file", "{sample}", "--lambda-tcka", "-1"], "--lambda-tcka must be between 0 and 100"),
        (["--file", "{sample}", "--train-share", "1.5"], "training share"),
    ],
)
def test_align_command_bad_input_gives_one_line(recordings_dir, tmp_path, capsys, extra, says):
    from neuroclip_live.cli import main

    paths = {"es": recordings_dir / "dvs.es", "missing": tmp_path / "nope.aedat4", "sample": SAMPLE}
    argv = [
        "align",
        "--out",
        str(tmp_path / "a.safetensors"),
        "--model",
        "tiny-digits",
        "--epochs",
        "1",
        *(a.format(**paths) for a in extra),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and err.startswith("neuroclip-live:") and "\n" not in err and "Traceback" not in err
