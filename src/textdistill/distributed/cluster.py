"""Connecting to Ray: start or join a cluster for the length of a job, quietly, with one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

from ..errors import ClusterError, require
from .config import RayConfig

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/textdistill: shipped to workers that cannot import it


def import_ray():
    """The ray module, or a one-line error naming the extra that installs it."""
    return require("ray", "ray")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _quiet_ray_data() -> None:
    """Ray Data's own progress bars and execution logs off: jobs show one textdistill progress bar instead."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.verbose_stats_logs = False
    ctx.enable_auto_log_stats = False
    ctx.log_internal_stack_trace = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _start_args(config: RayConfig) -> dict:
    """ray.init arguments for a Ray started by this process: its workers import textdistill from here."""
    python_path = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": python_path, "TOKENIZERS_PARALLELISM": "false"}
    args = {"address": "local", "include_dashboard": False, "runtime_env": {"env_vars": env}}
    if config.num_cpus is not None:
        args["num_cpus"] = config.num_cpus
    if config.object_store_memory is not None:
        args["object_store_memory"] = int(config.object_store_memory)
    return args


def _join_args(address: str) -> dict:
    """ray.init arguments for joining a cluster: textdistill's code travels with the job (py_modules), so the
    nodes need its dependencies but not textdistill itself."""
    return {"address": address, "runtime_env": {"py_modules": [str(PACKAGE_DIR)],
                                                "env_vars": {"TOKENIZERS_PARALLELISM": "false"}}}


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error unless something listens at a ``HOST:PORT`` or ``ray://HOST[:PORT]`` address: Ray itself
    retries an unreachable head for minutes."""
    import socket

    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = target.rpartition(":")
    if not host:
        host, port = target, "10001" if address.startswith("ray://") else "6379"
    try:
        port_number = int(port)
    except ValueError:
        raise ClusterError(f"--ray {address}: not an address (auto, local, ray://HOST:PORT or HOST:PORT)") from None
    try:
        with socket.create_connection((host, port_number), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterError(f"--ray {address}: nothing answers at {host}:{port_number} ({first_line(exc)}); is the "
                           f"cluster's head running (`ray start --head`)?") from None


@contextlib.contextmanager
def connected(config: RayConfig, log=None):
    """Ray for the length of a ``with`` block: the session this process already has, or one joined or started
    for the block (and shut down after it)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        address = config.address
        quiet = {"logging_level": logging.ERROR, "log_to_driver": True}
        mode = "joined"
        try:
            if address == "local":
                ray.init(**_start_args(config), **quiet)
                mode = "started"
            elif address == "auto":
                if os.environ.get("RAY_ADDRESS") not in (None, "", "auto", "local"):
                    check_reachable(os.environ["RAY_ADDRESS"])
                try:
                    ray.init(**_join_args("auto"), **quiet)
                except ConnectionError:  # no cluster on this machine: start one
                    ray.init(**_start_args(config), **quiet)
                    mode = "started"
            else:
                check_reachable(address)
                ray.init(**_join_args(address), **quiet)
        except ClusterError:
            raise
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError, grpc errors...
            raise ClusterError(f"--ray {address}: cannot start or reach Ray ({first_line(exc)})") from None
        started = True
        if log is not None:
            resources = ray.cluster_resources()
            log(f"ray: {mode} a cluster of {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPUs, "
                f"{resources.get('GPU', 0):g} GPUs")
    _quiet_ray_data()
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def gpus_per_worker(config: RayConfig, ray, teachers) -> float:
    """--num-gpus-per-worker, else 1 where the cluster has GPUs and a teacher runs a torch model, else 0."""
    if config.num_gpus_per_worker is not None:
        return float(config.num_gpus_per_worker)
    torch_teacher = any(hasattr(t, "model") for t in teachers)
    return 1.0 if torch_teacher and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def worker_count(config: RayConfig, ray, gpus: float) -> int:
    """Labelling actors: --workers, else what the cluster's CPUs (or GPUs) allow, at least one."""
    resources = ray.cluster_resources()
    if gpus > 0 and resources.get("GPU", 0) < gpus:
        raise ClusterError(f"--num-gpus-per-worker {gpus:g}: the cluster has {resources.get('GPU', 0):g} GPUs")
    if config.workers is not None:
        return config.workers
    if gpus > 0:
        return max(1, int(resources.get("GPU", 0) // gpus))
    return max(1, int(resources.get("CPU", 1) // config.cpus_per_worker))


def actor_pool(ray_data, config: RayConfig, ray, workers: int, gpus: float):
    """The actor pool of a labelling job: starts with the actors the cluster fits now (at least one) and grows to
    ``workers`` if an autoscaler adds nodes."""
    resources = ray.cluster_resources()
    fits = int(resources.get("CPU", 0) // config.cpus_per_worker)
    if gpus > 0:
        fits = min(fits, int(resources.get("GPU", 0) // gpus))
    return ray_data.ActorPoolStrategy(min_size=max(1, min(workers, fits)), max_size=workers)


def task_slots(config: RayConfig, ray) -> int:
    """Tasks that run at once for counting and encoding (one CPU each)."""
    if config.workers is not None:
        return config.workers
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)): (.*)$")


def job_error(exc: BaseException, what: str) -> ClusterError:
    """A failed Ray job as one line naming the root cause. Ray hands the driver the worker's traceback as text
    (the original exception object does not always survive the trip): its first non-Ray exception line is the
    cause."""
    for line in str(exc).splitlines():
        match = _EXCEPTION_LINE.match(line.strip())
        if match and not match.group(1).startswith("ray."):
            name = match.group(1).rsplit(".", 1)[-1]
            if name != "UserCodeException":
                return ClusterError(f"{what} failed on Ray: {name}: {match.group(2)}")
    return ClusterError(f"{what} failed on Ray: {type(exc).__name__}: {first_line(exc)}")


def preflight(config) -> None:
    """Before any reading or labelling: Ray is installed, and a remote address answers (one-line errors)."""
    import_ray()
    if config.address not in ("auto", "local"):
        check_reachable(config.address)
