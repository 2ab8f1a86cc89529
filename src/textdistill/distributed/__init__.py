"""Beyond one machine: teacher labelling, vocabulary counting and encoding on Ray, training streamed from disk.

- ``labelling``: ``label_on_ray`` fills the teacher-output cache (``teachers/cache.py``) with Ray Data: the corpus
  in chunks, a pool of actors that load each teacher once (GPU actors when asked), chunks written atomically under
  names derived from their keys. The same cache the single-process path reads and writes.
- ``vocabulary``: the DAN's n-gram vocabulary as a map-reduce of n-gram counts, bounded memory per worker.
- ``shards``: texts encoded into memory-mapped n-gram id shards on disk (``ShardedRows``: the trainer's
  ``take(idx)`` interface); ``streaming``: batch orders that read the shards window by window.
- ``pipeline``: what ``distill(..., ray=...)`` runs for the vocabulary and the encoding.

Ray is an optional extra (``pip install 'textdistill[ray]'``) and is imported only when one of these runs.
"""

from .config import RayConfig

__all__ = ["RayConfig"]
