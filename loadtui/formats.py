"""How numbers are written wherever loadtui shows them (the TUI, the summary and tables, the
verdicts' messages): one way for each kind of figure."""

from __future__ import annotations


def ms(value: float | None) -> str:
    """Milliseconds without a unit: "3.8", "250", and from 10 s on seconds: "12.3s"; "-"."""
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f}s"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def ms_with_unit(value: float | None) -> str:
    """A duration in ms with its unit: "3.8 ms", "250 ms", "10.4 s"; "-" when unknown."""
    text = ms(value)
    if text == "-" or text.endswith("s"):
        return text.replace("s", " s")
    return f"{text} ms"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f} MB"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def duration(seconds: float) -> str:
    """A length of time: "4.8s", "30.0s", "2m05s", "1h02m"."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def clock(seconds: float) -> str:
    """A running clock, whole seconds: "0:19", "12:05"."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def plural(number: int, word: str) -> str:
    """ "1 stall", "3 stalls"."""
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def code_at(function: str, location: str = "", leaf: str = "") -> str:
    """Application code as loadtui names it wherever it is shown: ``read_items
    (app/api/routes/items.py:62) → psycopg Connection.wait`` (its file:line and the library
    call it was in, each when known)."""
    text = function
    if location:
        text += f" ({location})"
    if leaf:
        text += f" → {leaf}"
    return text
