"""Labels and prompts: parsing what the user typed, template sets, cached text features W_t.

NeuroCLIP's own code (github.com/yfguo91/NeuroCLIP, ``trainers/zeroshot.py``)
uses one hand-written template per data set; those are kept here as the
``nmnist``, ``cifar10dvs`` and ``esimagenet`` sets. The default ``event`` set
is ours, worded for 127/255/0 event frames (edges and dots on grey), and is
averaged over its templates (prompt ensembling, as in CLIP's zero-shot).
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neuroclip_live.errors import NeuroclipError
from neuroclip_live.wording import counted

if TYPE_CHECKING:  # labels are parsed in runs without a model: torch only where features are made
    import torch

    from neuroclip_live.model.clip_model import ClipBackbone

log = logging.getLogger(__name__)

MAX_LABELS = 1000  # ES-ImageNet / ImageNet size; more is almost surely a pasted file by mistake
MAX_LABEL_CHARS = 300  # about CLIP's 77-token context; longer input is cut before tokenising
MAX_LABEL_FILE_BYTES = 1 << 20  # MAX_LABELS labels of MAX_LABEL_CHARS fit three times over

DEFAULT_TEMPLATE_SET = "event"
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "event": (
        "an event camera image of a {}.",
        "a black and white outline of a {}.",
        "a low quality point cloud image of a {}.",
        "a low quality stick figure of a {}.",
        "a noisy black and white sketch of a {}.",
        "a photo of a {}.",
    ),
    # NeuroCLIP's per-data-set templates, verbatim.
    "nmnist": ('A black and white photo of the Arabic numeral number: "{}".',),
    "cifar10dvs": ("A low quality stick figure of the object {}.",),
    "esimagenet": ("A low quality point cloud image of {}.",),
    # Plain CLIP, for comparison.
    "photo": ("a photo of a {}.",),
}


class LabelError(NeuroclipError):
    """Labels or templates that cannot be used, explained in one line."""


@dataclass
class LabelSet:
    """Cleaned labels in the order given, and one-line notes on what was changed."""

    labels: list[str]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- labels


def _is_blank(label: str) -> bool:
    """Only punctuation, spaces or control characters: nothing CLIP could read as a class."""
    return all(unicodedata.category(ch)[0] in "PZC" for ch in label)


def _merge_duplicates(labels: Iterable[str], notes: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for label in labels:
        key = label.casefold()
        if key in seen:
            notes.append(f"merged duplicate label {label!r} into {seen[key]!r}")
        else:
            seen[key] = label
    return list(seen.values())


def parse_labels_with_notes(text: str | Iterable[str]) -> LabelSet:
    """Labels from text separated by commas or newlines (or an iterable of labels), cleaned.

    Spaces are collapsed, empty and punctuation-only entries dropped,
    duplicates (ignoring case and spacing) merged keeping the first spelling.
    Raises ``LabelError`` when nothing usable remains or there are too many.
    """
    raw = re.split(r"[,\n\r]", text) if isinstance(text, str) else [str(t) for t in text]
    notes: list[str] = []
    labels: list[str] = []
    empty = blank = 0
    for item in raw:
        label = " ".join(item.split())
        if not label:
            empty += 1
        elif _is_blank(label):
            blank += 1
        else:
            if len(label) > MAX_LABEL_CHARS:
                notes.append(f"label {label[:30]!r}... is over {MAX_LABEL_CHARS} characters: cut")
                label = label[:MAX_LABEL_CHARS].rstrip()
            labels.append(label)
    if empty:
        notes.append(f"ignored {counted(empty, 'empty label')}")
    if blank:
        notes.append(f"ignored {counted(blank, 'label')} made only of punctuation")
    labels = _merge_duplicates(labels, notes)
    if not labels:
        raise LabelError("no labels given: type words separated by commas or newlines, e.g. 'cat, dog, car'")
    if len(labels) > MAX_LABELS:
        raise LabelError(f"{len(labels)} labels is more than the {MAX_LABELS} this app scores at once")
    return LabelSet(labels, notes)


def parse_labels(text: str | Iterable[str]) -> list[str]:
    """Like ``parse_labels_with_notes``, logging the notes as warnings."""
    result = parse_labels_with_notes(text)
    log_notes(result.notes)
    return result.labels


def log_notes(notes: Iterable[str]) -> None:
    """What cleaning the labels changed, as warnings (one line each)."""
    for note in notes:
        log.warning(note)


def read_label_file(path: str) -> LabelSet:
    """Labels from a text file, one per line (or comma-separated); lines starting with '#' are comments.

    UTF-8, with or without the byte-order mark some editors write, or UTF-16 with its mark (Windows
    "Unicode"); LF, CRLF or CR line ends. Blank lines are not labels and need no note. A missing,
    unreadable, oversized or undecodable file, or one without a label, is a one-line ``LabelError``.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_LABEL_FILE_BYTES + 1)
    except OSError as err:
        raise LabelError(f"cannot read label file {path}: {err.strerror or err}") from None
    if len(data) > MAX_LABEL_FILE_BYTES:
        raise LabelError(
            f"label file {path} is over {MAX_LABEL_FILE_BYTES // (1 << 20)} MB: it should hold one label a line "
            f"(at most {MAX_LABELS}); is it the right file?"
        )
    text = _decode_label_bytes(path, data)
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise LabelError(f"label file {path} holds no labels: write one a line (lines starting with # are comments)")
    return parse_labels_with_notes("\n".join(lines))


def _decode_label_bytes(path: str, data: bytes) -> str:
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    try:
        return data.decode("utf-16" if utf16 else "utf-8-sig")  # -sig: the BOM is not part of the first label
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 1].hex()
        raise LabelError(
            f"label file {path} is not UTF-8 text (byte 0x{bad} at offset {err.start}): save it as UTF-8"
        ) from None


# --------------------------------------------------------------------------- templates


def resolve_templates(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """A template set by name, one template containing '{}', or a list of them (None: the default set)."""
    if spec is None:
        return TEMPLATE_SETS[DEFAULT_TEMPLATE_SET]
    if isinstance(spec, str):
        if spec in TEMPLATE_SETS:
            return TEMPLATE_SETS[spec]
        if "{}" not in spec:
            raise LabelError(
                f"unknown template set {spec!r}: use {', '.join(TEMPLATE_SETS)} or a template containing {{}}"
            )
        return (spec,)
    templates = tuple(spec)
    bad = [t for t in templates if "{}" not in t]
    if not templates or bad:
        raise LabelError(f"a template must contain {{}} where the label goes, e.g. 'a photo of a {{}}.' ({bad[:1]})")
    return templates


def format_prompt(template: str, label: str) -> str:
    # As NeuroCLIP does: class names written with underscores read as words. replace(), not format(),
    # so that braces in a label or template cannot break it.
    return template.replace("{}", label.replace("_", " "))


def _prompt_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer.encode(text)) + 2  # start and end tokens


def fit_labels(labels: Sequence[str], tokenizer: Any, templates: Sequence[str], context_length: int) -> LabelSet:
    """Cut labels whose longest prompt would not fit the text context (whole words first)."""
    if not hasattr(tokenizer, "encode"):  # an HF tokenizer: open_clip truncates on its own
        return LabelSet(list(labels))
    longest = max(templates, key=lambda t: _prompt_tokens(tokenizer, format_prompt(t, "")))

    def fits(label: str) -> bool:
        return _prompt_tokens(tokenizer, format_prompt(longest, label)) <= context_length

    notes: list[str] = []
    out: list[str] = []
    for label in labels:
        if fits(label):
            out.append(label)
            continue
        words = label.split()
        while len(words) > 1 and not fits(" ".join(words)):
            words.pop()
        cut = " ".join(words)
        if not fits(cut):  # one very long word: the longest prefix that fits
            lo, hi = 0, len(cut)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(cut[:mid]) else (lo, mid - 1)
            cut = cut[:lo]
        if not cut:
            raise LabelError(f"the templates leave no room for a label in the {context_length}-token text context")
        notes.append(f"label {label[:40]!r} is longer than the {context_length}-token text context: cut to {cut!r}")
        out.append(cut)
    return LabelSet(_merge_duplicates(out, notes), notes)


# --------------------------------------------------------------------------- text features


def text_features(
    backbone: ClipBackbone,
    labels: Sequence[str],
    templates: Sequence[str],
    ensemble: bool = True,
    batch_size: int = 256,
) -> torch.Tensor:
    """W_t: (N, C) L2-normalised text features, one row per label.

    With ``ensemble`` each row is the mean over templates of the normalised
    prompt features, normalised again (CLIP's prompt ensembling); without it
    only the first template is used.
    """
    import torch

    used = list(templates) if ensemble else list(templates[:1])
    prompts = [format_prompt(t, label) for label in labels for t in used]
    if not prompts:
        return torch.empty((0, backbone.embed_dim), device=backbone.device)
    feats = torch.cat([backbone.encode_text(prompts[i : i + batch_size]) for i in range(0, len(prompts), batch_size)])
    feats = feats.view(len(labels), len(used), -1).mean(dim=1)
    return feats / feats.norm(dim=-1, keepdim=True)


class TextFeatureCache:
    """W_t for a backbone, cached per (label, templates, ensemble): a changed label set re-encodes only new labels."""

    def __init__(self, backbone: ClipBackbone, max_entries: int = 4096) -> None:
        self.backbone = backbone
        self.max_entries = max_entries
        self._rows: OrderedDict[tuple[str, tuple[str, ...], bool], torch.Tensor] = OrderedDict()
        self.prompts_encoded = 0  # running count, to see what the cache saved
        self.last_encode_ms = 0.0

    def features(self, labels: Sequence[str], templates: Sequence[str], ensemble: bool = True) -> torch.Tensor:
        """(N, C) normalised text features for ``labels``, in order."""
        import torch

        templates = tuple(templates)
        keys = [(label, templates, ensemble) for label in labels]
        missing = list(dict.fromkeys(k[0] for k in keys if k not in self._rows))
        if missing:
            t0 = time.perf_counter()
            feats = text_features(self.backbone, missing, templates, ensemble)
            self.last_encode_ms = (time.perf_counter() - t0) * 1e3
            self.prompts_encoded += len(missing) * (len(templates) if ensemble else 1)
            for label, row in zip(missing, feats, strict=True):
                self._rows[(label, templates, ensemble)] = row
        for k in keys:
            self._rows.move_to_end(k)
        while len(self._rows) > max(self.max_entries, len(keys)):
            self._rows.popitem(last=False)
        if not keys:
            return torch.empty((0, self.backbone.embed_dim), device=self.backbone.device)
        return torch.stack([self._rows[k] for k in keys])

    def clear(self) -> None:
        self._rows.clear()
