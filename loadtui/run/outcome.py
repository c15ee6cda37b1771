"""Whether a run measured the route at all: a run in which no request succeeded (every one
failed, or none was answered) measured only failures. `run` and `matrix` exit 1 on it and the
pytest plugin's assertions fail on it, saying why, unless the user allows it
(``--allow-no-success``)."""

from __future__ import annotations

from loadtui.formats import plural
from loadtui.run.rundoc import Summary

KIND_WORDS = {"timeout": "timed out", "disconnect": "were cut off", "refused": "were refused"}


def _failed(kind: str) -> str:
    """What requests of an error kind did: "answered 401", "timed out", "bad_response"."""
    if kind.startswith("http_"):
        return f"answered {kind.removeprefix('http_')}"
    return KIND_WORDS.get(kind, kind)


def no_success(summary: Summary) -> str | None:
    """Why no request succeeded, in one line; None when one did."""
    if summary.succeeded > 0:
        return None
    total = summary.requests
    kinds = sorted(
        ((kind, n) for kind, n in summary.errors_by_kind.items() if n > 0),
        key=lambda kv: (-kv[1], kv[0]),
    )
    if total and len(kinds) == 1:
        return f"no request succeeded: {total:,} of {total:,} {_failed(kinds[0][0])}"
    if total:
        each = ", ".join(f"{n:,} {_failed(kind)}" for kind, n in kinds)
        return f"no request succeeded: {total:,} of {total:,} failed" + (
            f": {each}" if each else ""
        )
    waiting, oldest = summary.in_flight_at_end, summary.oldest_in_flight_s
    if waiting and oldest is not None:
        were = "was" if waiting == 1 else "were"
        return (
            f"no request succeeded: none was answered; {plural(waiting, 'request')} {were} "
            f"still waiting at the end, the oldest for {oldest:.1f} s"
        )
    return "no request succeeded: none was answered"
