"""Settings of distributed jobs as config dataclasses: their fields are flags (``cli/flags.py``).

``RayConfig``: where a job runs and how many workers it gets (``label --ray`` and ``distill --ray``).
``ShardConfig``: how ``distill --ray`` counts, encodes and streams the transfer set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..config import option
from ..errors import check

ADDRESS_HELP = ("Run on Ray: 'auto' joins the cluster this machine belongs to (`ray start`, or $RAY_ADDRESS) or "
                "starts one here; 'local' always starts one here; 'ray://HOST:10001' connects through Ray Client; "
                "'HOST:6379' joins that cluster's head.")


@dataclass
class RayConfig:
    """Where a Ray job runs. ``address`` None means no Ray: the single-process path."""

    address: str | None = option(None, ADDRESS_HELP, flag="ray")
    workers: int | None = option(None, "Ray: labelling actors (default: the cluster's CPUs / --cpus-per-worker, "
                                       "or its GPUs / --num-gpus-per-worker).")
    cpus_per_worker: float = option(1.0, "Ray: CPUs each worker reserves (a labelling actor runs that many torch "
                                         "threads).")
    num_gpus_per_worker: float | None = option(None, "Ray: GPUs each labelling actor reserves (0: CPU actors; "
                                                     "default: 1 where the cluster has GPUs and a teacher is a "
                                                     "torch model, else 0).")
    num_cpus: int | None = option(None, "CPUs of a Ray started here (default: all).", cli=False)
    object_store_memory: int | None = option(None, "Bytes of object store of a Ray started here.", cli=False)

    def __post_init__(self):
        if isinstance(self.address, str):
            self.address = self.address.strip()
        check(self.address is None or self.address != "",
              "--ray needs an address: auto, local, ray://HOST:PORT or HOST:PORT")
        check(self.workers is None or self.workers >= 1, f"--workers must be >= 1, got {self.workers}")
        check(self.cpus_per_worker > 0, f"--cpus-per-worker must be > 0, got {self.cpus_per_worker}")
        check(self.num_gpus_per_worker is None or self.num_gpus_per_worker >= 0,
              f"--num-gpus-per-worker must be >= 0, got {self.num_gpus_per_worker}")
        check(self.num_cpus is None or self.num_cpus >= 1, f"num_cpus must be >= 1, got {self.num_cpus}")

    @classmethod
    def of(cls, value) -> "RayConfig | None":
        """None, an address ('auto', 'local', 'ray://HOST:PORT'), a dict of fields or a RayConfig, as a RayConfig;
        None when there is no address (no Ray)."""
        if value is None:
            return None
        if isinstance(value, str):
            value = cls(address=value)
        elif isinstance(value, dict):
            value = cls(**value)
        elif not isinstance(value, cls):
            raise TypeError(f"ray must be None, an address or a RayConfig, not {type(value).__name__}")
        return value if value.address is not None else None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ShardConfig:
    """How ``distill --ray`` builds the DAN's inputs: the vocabulary counted and the texts encoded in blocks, the
    encoded n-gram ids kept in memory-mapped shards on disk, training batches read from them."""

    block_size: int = option(50_000, "Ray: texts per vocabulary-counting or encoding task (one shard each).")
    shard_dir: str | None = option(None, "Ray: directory for the encoded shards (default: under "
                                         "~/.cache/textdistill/shards, removed after training; a given one is "
                                         "kept, and a rerun reuses what it holds).")
    shuffle_window: int = option(2_000_000, "Ray: texts one stretch of a training epoch reads (transfer sets up "
                                            "to this size are shuffled exactly as in memory).")
    max_distinct: int | None = option(None, "Ray: n-grams one counting task or reducer holds before dropping "
                                            "those seen once (default: 10 x --vocab-size, at least 20M).",
                                      cli=False)

    def __post_init__(self):
        check(self.block_size >= 1, f"--block-size must be >= 1, got {self.block_size}")
        check(self.shuffle_window >= 1, f"--shuffle-window must be >= 1, got {self.shuffle_window}")
        check(self.max_distinct is None or self.max_distinct >= 1, "max_distinct must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)
