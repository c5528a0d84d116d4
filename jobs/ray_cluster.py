"""Where Ray work runs: a local instance started on demand, or an existing cluster.

Every Ray entry point of the project (the corpus job, ``python -m train experiment``)
connects here, so only ``--address`` (or ``$RAY_ADDRESS``) changes between a laptop and a
cluster. A local instance has no dashboard and binds every port to 127.0.0.1; on a cluster
this project's code travels as Ray's working_dir (without the big or private folders in
``EXCLUDES``), and data and results must sit on a filesystem every node sees.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Big or private folders that never travel to a cluster as Ray's working_dir
EXCLUDES = [".venv", ".git", "data", "results", "cache", "checkpoints", "mutants", "tests/e2e/screenshots",
            "assets/*.safetensors"]


class RayStartError(RuntimeError):
    """Ray could not start locally or join the cluster; the message says why."""


def address_in_use(address: str | None = None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or None


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address`` (or $RAY_ADDRESS), else start a local instance on the
    loopback address with no dashboard. True when this call started or joined Ray (and the
    caller should shut it down), False when Ray was already up in this process."""
    address = address_in_use(address)
    if not address:
        # Ray binds a local instance to the loopback address when clusters are off (as on
        # macOS); read when ray is first imported, and inherited by its processes.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False,
                 runtime_env={"working_dir": str(ROOT), "excludes": EXCLUDES})
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    return True


def start_ray(connect_fn, address: str | None = None, num_cpus: int | None = None) -> bool:
    """``connect_fn(address, num_cpus)`` (``connect``, or a test's stand-in), with any failure
    turned into a RayStartError that names where Ray was to run."""
    try:
        return connect_fn(address, num_cpus)
    except Exception as exc:  # ray raises many types: ConnectionError, RuntimeError, ValueError…
        where = f"the cluster at {address_in_use(address)}" if address_in_use(address) else "a local instance"
        raise RayStartError(f"Ray could not start {where}: {type(exc).__name__}: {exc}") from exc
