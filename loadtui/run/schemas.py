"""The JSON Schemas loadtui ships for its documents (a run file, a capacity result): generated
from their typed models, written where the package keeps them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def json_schema(model: type[BaseModel], slug: str, title: str, description: str) -> dict[str, Any]:
    """``model``'s schema as a shipped file: ``slug`` names its ``$id`` ("run-1")."""
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://loadtui.invalid/schema/{slug}.json",
        "title": title,
        "description": description,
        **schema,
    }


def text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(path: Path, schema: dict[str, Any]) -> None:
    """Regenerate a shipped schema (each document module's ``__main__``)."""
    path.write_text(text(schema))
    sys.stdout.write(f"wrote {path}\n")
