"""Where load may go: parsing ``--target`` and keeping load on loopback unless allowed.

Nothing here sends a packet: the loopback check reads IP literals and the name "localhost";
any other host name is refused unless ``--allow-remote`` is given (only then is it resolved).
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass, replace
from urllib.parse import SplitResult, urlsplit

from loadtui.engine.loopback import is_loopback
from loadtui.engine.messages import Tls


@dataclass(frozen=True)
class Target:
    url: str  # the app's base URL, e.g. http://127.0.0.1:8000
    host: str
    port: int
    route: str  # the path that gets loaded, e.g. /ping
    spawned: bool = False
    metrics_url: str | None = None  # the sidecar, when known (spawned, or --metrics)
    pid: int | None = None  # the server's process, when loadtui spawned it
    allow_remote: bool = False  # --allow-remote: this host may be other than loopback
    tls: bool = False  # https://
    insecure: bool = False  # -k: any certificate will do
    cafile: str | None = None  # --cacert: trust this bundle (else the system's)

    @property
    def default_port(self) -> int:
        return 443 if self.tls else 80

    @property
    def origin(self) -> str:
        """The server's root, ``http://h:8000`` of ``http://h:8000/api``: where instrument(app)
        serves /heartbeat, whatever prefix the app's own routes have."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def path_for(self, route: str) -> str:
        """``route`` under the target's base path (``--target http://h:8000/api``), unless it
        starts with it already (``/api/orders`` as ``loadtui routes`` lists it)."""
        return joined(urlsplit(self.url).path, route if route.startswith("/") else "/" + route)

    @property
    def host_header(self) -> str:
        """The Host header: the host as given (``localhost``, ``[::1]``), and the port."""
        shown = urlsplit(self.url).hostname or self.host
        return f"[{shown}]:{self.port}" if ":" in shown else f"{shown}:{self.port}"

    def tls_options(self) -> Tls | None:
        """How loadtui speaks TLS to this target (None: plain HTTP): ALPN http/1.1, SNI, the
        system's trust or --cacert's, no verification with -k."""
        if not self.tls:
            return None
        return Tls(self.server_hostname, insecure=self.insecure, cafile=self.cafile)

    def ssl_context(self) -> ssl.SSLContext | None:
        options = self.tls_options()
        return options.context() if options else None

    @property
    def server_hostname(self) -> str:
        """The name the certificate must hold: the host as given (sent with SNI unless it is
        an IP address)."""
        return urlsplit(self.url).hostname or self.host

    def permits(self, host: str) -> bool:
        """Whether loadtui may send anything to ``host``: loopback, or this target's own host
        when --allow-remote was given. Every URL the probe builds is checked with this."""
        return is_loopback(host) or (self.allow_remote and host == self.host)


CONTROL = re.compile(r"[\x00-\x20\x7f]")  # no URL holds these; a space is a typo


def joined(prefix: str, path: str) -> str:
    """``path`` under ``prefix`` (whole segments), unless it is there already: a prefix is
    never doubled."""
    prefix = prefix.rstrip("/")
    if not prefix or path == prefix or path.startswith(prefix + "/"):
        return path
    return prefix + path


class TargetError(ValueError):
    """A target that may not or cannot be used; the message is one line for the user."""


def _parts(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, its host and its port, or TargetError saying what is wrong."""
    if CONTROL.search(url):
        raise TargetError(f"{url!r}: a control character in the target URL")
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a port that is not a number, ...
        raise TargetError(f"{url}: not a URL loadtui can load ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"{url}: only http:// and https:// targets are supported")
    if not host:
        raise TargetError(f"{url}: no host in the target URL")
    if parts.username is not None or parts.password is not None:
        raise TargetError(
            f"{url}: credentials in a URL are not sent; give them as a header, "
            "e.g. -H 'Authorization: Basic ...'"
        )
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise TargetError(f"{url}: a target is a base URL; put a query in the route instead")
    if port == 0:
        raise TargetError(f"{url}: port 0 is not a port a server listens on")
    return parts, host, port or (443 if parts.scheme == "https" else 80)


def parse_target(url: str, route: str, *, allow_remote: bool = False) -> Target:
    """``url`` checked: http or https, a host (loopback unless ``allow_remote``), a port; a
    path in it is a base the route is appended to (``http://h:8000/api`` + ``/orders`` loads
    ``/api/orders``, and so does ``/api/orders``)."""
    parts, host, port = _parts(url)
    if not allow_remote and not is_loopback(host):
        raise TargetError(
            f"{host} is not a loopback address; load goes to 127.0.0.0/8, ::1 or localhost "
            "unless you pass --allow-remote"
        )
    connect_host = "127.0.0.1" if host.lower() == "localhost" else host
    found = Target(
        url=base_url(host, port, parts.scheme) + parts.path.rstrip("/"),
        host=connect_host,
        port=port,
        route="",
        allow_remote=allow_remote,
        tls=parts.scheme == "https",
    )
    return replace(found, route=found.path_for(route))


def base_url(host: str, port: int, scheme: str = "http") -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def parse_metrics_url(url: str, target: Target) -> str:
    """A sidecar's base URL given with --metrics: http, a host the target permits, a port."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname
    if parts.scheme != "http" or not host or not port:
        raise TargetError(f"--metrics {url}: give the sidecar as http://HOST:PORT")
    if not target.permits(host):
        raise TargetError(
            f"--metrics {url}: {host} is not loopback (nor the --allow-remote target's host)"
        )
    return base_url(host, port)


def check_reachable(target: Target, timeout: float = 3.0) -> None:
    """Open (and close) one TCP connection, and shake hands when it is https; no HTTP request
    is sent. An untrusted certificate is found here, before any load."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as sock:
            context = target.ssl_context()
            if context is not None:
                with context.wrap_socket(sock, server_hostname=target.server_hostname):
                    pass
    except ssl.SSLCertVerificationError as exc:
        raise TargetError(
            f"target {target.url}: its certificate is not trusted ({exc.verify_message}); "
            "give --cacert FILE, or -k to accept any certificate"
        ) from None
    except ssl.SSLError as exc:
        raise TargetError(f"target {target.url}: the TLS handshake failed ({exc.reason})") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TargetError(f"target {target.url} is unreachable: {reason}") from None
