"""The draft as commented TOML text.

Every string is written with ``$`` doubled: the Compose values are already interpolated, and the
manifest interpolates its strings again, so a literal ``$`` must stay literal.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mooring.compose.draft import Draft, Table

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def render(draft: Draft) -> str:
    lines: list[str] = [f"# {line}" if line else "#" for line in draft.header]
    _table(lines, "app", draft.app)
    for section in ("service", "worker", "volume"):
        for name, table in getattr(draft, section).items():
            _table(lines, f"{section}.{_key(name)}", table)
    return "\n".join(lines).rstrip() + "\n"


def _table(lines: list[str], path: str, table: Table) -> None:
    if lines:
        lines.append("")
    lines.extend(f"# {comment}" for comment in table.comments)
    lines.append(f"[{path}]")
    for key, value in table.values.items():
        note = table.notes.get(key)
        lines.append(f"{_key(key)} = {value_text(value)}" + (f"  # {note}" if note else ""))
    for name, sub in table.tables.items():
        _table(lines, f"{path}.{_key(name)}", sub)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no TOML form here")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value.replace("$", "$$"), ensure_ascii=False)
    if isinstance(value, list | tuple):
        items = [value_text(item) for item in value]
        one_line = f"[{', '.join(items)}]"
        if len(one_line) <= 90:
            return one_line
        return "[\n" + "".join(f"  {item},\n" for item in items) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {value_text(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
