"""Where a run was measured: recorded in every run file."""

from __future__ import annotations

import os
import platform
import sys
from functools import cache
from importlib import metadata

PACKAGES = (
    "loadtui",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "anyio",
    "httpx",
    "hdrhistogram",
    "psutil",
    "prometheus_client",
    "textual",
)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@cache
def environment() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "hostname": platform.node(),
        "packages": {name: _version(name) for name in PACKAGES},
    }
