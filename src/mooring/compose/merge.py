"""Merge Compose files and ``extends`` the way compose-spec 13-merge.md says.

Mappings merge key by key; sequences append; ``command``, ``entrypoint`` and ``healthcheck.test``
are replaced; ``ports``, ``volumes``, ``secrets`` and ``configs`` are unique by their key and the
later entry wins; ``!reset`` removes and ``!override`` replaces whole.
"""

from __future__ import annotations

from typing import Any

from mooring.compose.yamlfile import Override, Reset

_REPLACED = {"command", "entrypoint"}
_UNIQUE_BY_TARGET = {"volumes", "secrets", "configs"}


def normalize_service(service: dict[str, Any]) -> dict[str, Any]:
    """Short forms turned into the long forms merging needs (list environment to a mapping, ...)."""
    out = dict(service)
    for key in ("environment", "labels", "annotations"):
        if isinstance(out.get(key), list):
            out[key] = _list_to_mapping(out[key])
    if isinstance(out.get("depends_on"), list):
        out["depends_on"] = {name: {"condition": "service_started"} for name in out["depends_on"]}
    if isinstance(out.get("env_file"), str):
        out["env_file"] = [out["env_file"]]
    return out


def _list_to_mapping(items: list[Any]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for item in items:
        if isinstance(item, str):
            key, sep, value = item.partition("=")
            mapping[key] = value if sep else None
    return mapping


def merge_services(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged onto ``base`` (both normalized services)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Reset):
            merged.pop(key, None)
        elif isinstance(value, Override) or key not in merged or key in _REPLACED:
            merged[key] = value
        elif key == "healthcheck" and isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = {**merged[key], **value}  # test is replaced, other keys merge
        elif key == "ports" and isinstance(value, list) and isinstance(merged[key], list):
            merged[key] = _unique(merged[key], value, _port_key)
        elif key in _UNIQUE_BY_TARGET and isinstance(value, list) and isinstance(merged[key], list):
            merged[key] = _unique(merged[key], value, _target_key)
        else:
            merged[key] = merge_values(merged[key], value)
    return merged


def merge_values(base: Any, over: Any) -> Any:
    """The generic rule: mappings merge, sequences append (without repeating equal items), else replace."""
    if isinstance(over, Reset):
        return None
    if isinstance(over, Override):
        return over.value
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            if isinstance(value, Reset):
                merged.pop(key, None)
            else:
                merged[key] = merge_values(merged[key], value) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(over, list):
        return base + [item for item in over if item not in base]
    return over


def strip_tags(data: Any) -> Any:
    """Resolve tags left where nothing was merged: ``!reset`` drops the key, ``!override`` is its value."""
    if isinstance(data, Override):
        return strip_tags(data.value)
    if isinstance(data, dict):
        return {key: strip_tags(value) for key, value in data.items() if not isinstance(value, Reset)}
    if isinstance(data, list):
        return [strip_tags(item) for item in data if not isinstance(item, Reset)]
    return data


def _unique(base: list[Any], over: list[Any], key_of: Any) -> list[Any]:
    by_key: dict[Any, Any] = {}
    for item in [*base, *over]:
        by_key[key_of(item)] = item  # a later entry with the same key replaces the earlier one
    return list(by_key.values())


def _port_key(item: Any) -> Any:
    if isinstance(item, dict):
        return (item.get("host_ip"), item.get("target"), item.get("published"), item.get("protocol", "tcp"))
    return str(item)


def _target_key(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("target") or item.get("source")
    text = str(item)
    parts = text.split(":")
    # "src:/target[:mode]", "/target", or a Windows-less "name:/target"
    return parts[1] if len(parts) >= 2 else parts[0]
