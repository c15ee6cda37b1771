"""loadtui.report.svg: a chart's time axis ends with the run."""

from __future__ import annotations

from loadtui.report.svg import time_axis


def test_time_axis_ends_with_the_run():
    axis = time_axis("seconds", [0.5, 5.0, 10.0])
    assert (axis.low, axis.high) == (0.0, 10.0)
    assert [label for _, label in axis.ticks] == ["0", "2", "4", "6", "8", "10"]
    assert time_axis("seconds", [3.2]).high == 3.2
