"""``distill`` on Ray: labelling, the DAN's vocabulary and its encoding run on the cluster (``label_on_ray``,
``fit_and_encode``); a family without an n-gram featurizer is fitted and encoded in this process."""

from __future__ import annotations

from ..execution import Encoded, LocalExecution
from .config import RayConfig, ShardConfig


class RayEncoded(Encoded):
    def __init__(self, sharded):
        super().__init__(sharded.family, sharded.encoded)
        self.sharded = sharded

    def cleanup(self) -> None:
        self.sharded.cleanup()  # the shards of a default location go once the student is saved


class RayExecution(LocalExecution):
    name = "ray"

    def __init__(self, ray: RayConfig, shards: ShardConfig | None = None):
        self.ray, self.shards = ray, shards

    def label(self, aligned, texts, pairs, cache_root, progress=True, log=None):
        from .labelling import label_on_ray

        label_on_ray([a.teacher for a in aligned], texts, pairs, cache_root=cache_root, ray=self.ray,
                     progress=progress, log=log)
        return super().label(aligned, texts, pairs, cache_root, progress, log)  # now read from the cache

    def fit_and_encode(self, family, texts, pairs, progress=True, log=None) -> Encoded:
        from .pipeline import fit_and_encode, supports_sharding

        if not supports_sharding(family):
            if log is not None:
                log(f"note: the {family.name} student's vocabulary and encoding are built here, not on Ray")
            return super().fit_and_encode(family, texts, pairs, progress, log)
        sharded = fit_and_encode(family, texts, pairs, self.ray, self.shards, progress=progress, log=log)
        if log is not None and hasattr(sharded.family, "describe"):
            log(f"{family.name} student: {sharded.family.describe()}")
        return RayEncoded(sharded)
