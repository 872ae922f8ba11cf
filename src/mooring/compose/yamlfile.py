"""Read one Compose YAML file as Compose does: YAML 1.2 (``22:22`` stays a string), anchors and
merge keys, and the ``!reset`` / ``!override`` tags of compose-spec 13-merge.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode


class ComposeFileError(ValueError):
    """A Compose file that cannot be read or parsed; the message names the file."""


@dataclass(frozen=True)
class Reset:
    """``!reset``: the merged attribute is removed."""


@dataclass(frozen=True)
class Override:
    """``!override``: the merged attribute is replaced whole instead of merged."""

    value: Any


def _node_value(constructor: SafeConstructor, node: Node) -> Any:
    if isinstance(node, MappingNode):
        return constructor.construct_mapping(node, deep=True)
    if isinstance(node, SequenceNode):
        return constructor.construct_sequence(node, deep=True)
    return constructor.construct_scalar(node)


def _reset(constructor: SafeConstructor, node: Node) -> Reset:
    return Reset()


def _override(constructor: SafeConstructor, node: Node) -> Override:
    return Override(_node_value(constructor, node))


def _parser() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.constructor.add_constructor("!reset", _reset)
    yaml.constructor.add_constructor("!override", _override)
    return yaml


def load_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of ``path``; raise ComposeFileError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComposeFileError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    try:
        data = _parser().load(text)
    except YAMLError as exc:
        raise ComposeFileError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ComposeFileError(f"{path}: the top level must be a mapping (services:, volumes:, ...)")
    return data
