"""Where features come from: this process, the feature cache, or a Ray cluster, behind one ``extract``.

``train`` and ``evaluate`` ask a ``FeatureSource`` for the rows of a list of
samples; which one answers is a command-line choice, and all give the same
rows (see ``extraction``), so the draws of shots, validation and alpha that
follow do not depend on it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from neuroclip_live.offline.datasets import Sample
from neuroclip_live.wording import plural

if TYPE_CHECKING:  # torch and open_clip load when features are asked for, not with the command line
    from neuroclip_live.model.clip_model import ClipBackbone
    from neuroclip_live.offline.augment import Augmentation
    from neuroclip_live.offline.evaluation import FeatureSet
    from neuroclip_live.offline.extraction import EventReader


class FeatureSource(Protocol):
    def extract(
        self,
        samples: Sequence[Sample],
        views: int = 1,
        augment: bool | Augmentation = False,
        flip: bool = True,
        seed: int = 0,
        desc: str = "encoding",
    ) -> FeatureSet: ...


class LocalExtractor:
    """``extract_features`` in this process, nothing kept (the default)."""

    def __init__(
        self,
        backbone: ClipBackbone,
        T: int,
        cut: str,
        batch_size: int = 256,
        progress: bool = True,
        read: EventReader | None = None,
    ) -> None:
        self.backbone, self.T, self.cut = backbone, T, cut
        self.batch_size, self.progress = batch_size, progress
        self.read = read  # a sample's events (examples in memory); None: from its file

    def extract(
        self,
        samples: Sequence[Sample],
        views: int = 1,
        augment: bool | Augmentation = False,
        flip: bool = True,
        seed: int = 0,
        desc: str = "encoding",
    ) -> FeatureSet:
        from neuroclip_live.offline.evaluation import extract_features

        return extract_features(
            self.backbone,
            samples,
            self.T,
            self.cut,
            views=views,
            augment=augment,
            flip=flip,
            seed=seed,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            progress=self.progress,
            desc=desc,
            read=self.read,
        )


def open_feature_source(
    backbone: ClipBackbone,
    T: int,
    cut: str,
    batch_size: int = 256,
    progress: bool = True,
    cache: str | os.PathLike | None = None,
    ray: str | None = None,
    workers: int | None = None,
) -> FeatureSource:
    """In-process (no cache, no Ray), through a cache folder, or on Ray ('local', 'auto', 'ray://host:port').

    A Ray run always goes through a cache (the default folder when none is given): its
    workers write there, and a stopped run resumes from it.
    """
    from neuroclip_live.offline.feature_cache import CachedExtractor

    if ray is None:
        if cache is None:
            return LocalExtractor(backbone, T, cut, batch_size, progress)
        return CachedExtractor(backbone, T, cut, cache, batch_size=batch_size, progress=progress)
    from neuroclip_live.offline.cluster import RayRunner, connect
    from neuroclip_live.offline.feature_cache import serialized_weights

    info = connect(None if ray == "local" else ray)
    weights = serialized_weights(backbone)  # once: hashed for the cache key, shipped to the workers
    runner = RayRunner(backbone, workers=workers, batch_size=batch_size, weights=weights)
    source = CachedExtractor(
        backbone, T, cut, cache, runner=runner, batch_size=batch_size, progress=progress, weights=weights
    )
    if progress:
        cpus, gpus = f"{info.cpus:g} {plural(info.cpus, 'CPU')}", f"{info.gpus:g} {plural(info.gpus, 'GPU')}"
        print(f"Ray {info.address}: {cpus}, {gpus}; feature cache {source.cache.folder}", file=sys.stderr)
    return source
