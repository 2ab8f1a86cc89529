"""The ``--ray`` flags of ``label`` and ``distill`` (issue 12), generated from the distributed configs."""

from __future__ import annotations

from ..distributed.config import RayConfig, ShardConfig
from ..errors import ConfigError
from . import flags as cli_flags

RAY_CONFIGS = [RayConfig, ShardConfig]  # distill's; label takes RayConfig's only


def ray_flags(values: dict, flags: dict) -> tuple[dict, set]:
    """The Ray settings among a command's flag values: ({"ray": RayConfig[, "shards": ShardConfig]} or {} without
    --ray) and the parameters they used. A Ray flag without --ray is an error."""
    settings, used = {}, set()
    for cls, key in ((RayConfig, "ray"), (ShardConfig, "shards")):
        if any(owner is cls for spec in flags.values() for owner, _ in spec.owners):
            settings[key], mine = cli_flags.build(cls, values, flags, "--ray")
            used |= mine
    if settings["ray"].address is None:
        if used:
            raise ConfigError(f"{', '.join(flags[p].flag for p in sorted(used))} needs --ray")
        return {}, used
    preflight(settings["ray"])
    return settings, used


def preflight(config: RayConfig) -> None:
    """Before any reading or labelling: Ray is installed, and a remote address answers (one-line errors)."""
    from ..distributed.cluster import check_reachable, import_ray

    import_ray()
    if config.address not in ("auto", "local"):
        check_reachable(config.address)
