"""The rule every sender checks before it sends anything: load and probes go to loopback
(127.0.0.0/8, ::1, the name "localhost") unless the user passed --allow-remote. Only IP literals
and "localhost" are loopback: no name is resolved to decide."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
