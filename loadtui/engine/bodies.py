"""Form bodies as curl sends them: ``application/x-www-form-urlencoded`` text with its
``{{field}}`` templates kept for the data rows, and ``multipart/form-data`` (``-F``) built from
text fields and files read once, before the run, around a random boundary."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


def form_encoded(text: str, template: re.Pattern[str]) -> str:
    """``text`` percent-encoded as a form value is (curl's --data-urlencode: everything but
    letters, digits and ``-._~``), the ``template`` fields in it left as they are: their
    values are encoded when a data row fills them."""
    pieces = template.split(text)  # text, field name, text, ...
    return "".join(
        "{{" + piece + "}}" if odd else quote(piece, safe="", errors="surrogateescape")
        for odd, piece in ((i % 2 == 1, piece) for i, piece in enumerate(pieces))
    )


@dataclass(frozen=True)
class Part:
    """One field of a multipart form: text (which may hold ``{{field}}``), or a file's bytes."""

    name: str
    text: str = ""
    content: bytes | None = None  # a file's bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.content) if self.content is not None else len(self.text.encode())


def _boundary() -> str:
    return "loadtui-" + secrets.token_hex(16)  # 128 random bits: in no file by chance


@dataclass(frozen=True)
class Multipart:
    parts: tuple[Part, ...]
    boundary: str = field(default_factory=_boundary)

    @property
    def size(self) -> int:
        return sum(part.size for part in self.parts)

    def content_type(self, given: str | None) -> str:
        """The Content-Type header: a header's own multipart type gets the boundary (as curl
        does); any other header is the user's word."""
        if given is None:
            return f"{MULTIPART_TYPE}; boundary={self.boundary}"
        if given.lower().startswith("multipart/") and "boundary=" not in given.lower():
            return f"{given}; boundary={self.boundary}"
        return given

    def bytes(self, fill: Callable[[str], str]) -> bytes:
        """The body: each part's headers and content, text fields filled by ``fill``."""
        out: list[bytes] = []
        for part in self.parts:
            head = (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(part.name)}"'
            )
            if part.filename is not None:
                head += f'; filename="{_quoted(part.filename)}"'
            if part.content_type is not None:
                head += f"\r\nContent-Type: {part.content_type}"
            content = part.content
            if content is None:
                content = fill(part.text).encode("utf-8", "surrogateescape")
            out += [head.encode(), b"\r\n\r\n", content, b"\r\n"]
        out.append(f"--{self.boundary}--\r\n".encode())
        return b"".join(out)


def _quoted(text: str) -> str:
    """A name or file name inside the quotes of Content-Disposition, escaped as browsers do."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
