"""loadtui.server.variants: a demo route is found by its key or its path."""

from __future__ import annotations

from loadtui.server.variants import VARIANTS, find_variant

ROW = {v.key: v for v in VARIANTS}


def test_find_variant_by_key_or_path():
    assert find_variant("5") is ROW["5"]
    assert find_variant(ROW["4"].path) is ROW["4"]
    assert find_variant(ROW["4"].path.lstrip("/")) is ROW["4"]
    assert find_variant("nope") is None
