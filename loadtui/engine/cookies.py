"""A user's cookie jar: the Set-Cookie headers of its responses kept as a browser keeps them
(name, value, Path, Domain, Max-Age/Expires, Secure only over TLS) by the standard library's
``http.cookiejar``, and the Cookie header each of its requests carries.

Cheap where it runs often: the jar is consulted only when a response sets a cookie (whether
anything changed is told to the caller, which then rebuilds its requests' bytes) and when the
bytes of a request are built; between those, the one check per request is whether a cookie has
expired (:meth:`Jar.expired`).
"""

from __future__ import annotations

import time
from http.cookiejar import Cookie, CookieJar
from urllib.request import Request

_Signature = tuple[tuple[object, ...], ...]


class _Response:
    """What ``CookieJar.extract_cookies`` reads of a response: its Set-Cookie headers."""

    def __init__(self, set_cookies: list[str]) -> None:
        self._set_cookies = set_cookies

    def info(self) -> _Response:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        if name.lower() == "set-cookie":
            return self._set_cookies
        return default


class Jar:
    def __init__(self, origin: str) -> None:
        """``origin``: ``http://host:port`` or ``https://...`` of the target."""
        self.origin = origin
        self._jar = CookieJar()
        self._signature: _Signature = ()
        self.next_expiry: float | None = None  # epoch seconds: the first cookie to expire

    def __bool__(self) -> bool:
        return bool(self._signature)

    def take(self, path: str, set_cookies: list[bytes]) -> bool:
        """Keep what a response to ``path`` sets; True if the jar changed."""
        response = _Response([value.decode("latin-1") for value in set_cookies])
        self._jar.extract_cookies(response, Request(self.origin + path))  # type: ignore[arg-type]
        return self._changed()

    def expired(self) -> bool:
        """A cookie has expired since the jar last changed (then it is gone, and True)."""
        if self.next_expiry is None or time.time() < self.next_expiry:
            return False
        self._jar.clear_expired_cookies()
        return self._changed()

    def header(self, path: str) -> str | None:
        """The Cookie header a request of ``path`` carries; None when none applies."""
        request = Request(self.origin + path)
        self._jar.add_cookie_header(request)
        return request.get_header("Cookie")

    def _changed(self) -> bool:
        cookies: list[Cookie] = list(self._jar)
        signature = tuple(
            sorted(
                (c.name, c.value or "", c.domain, c.path, c.secure, c.expires or 0) for c in cookies
            )
        )
        expiries = [c.expires for c in cookies if c.expires is not None]
        self.next_expiry = min(expiries) if expiries else None
        changed = signature != self._signature
        self._signature = signature
        return changed
