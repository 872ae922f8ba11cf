"""Render a service's templates for one instance: ``${VAR}`` from the instance's environment.

The syntax is the manifest's (``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``, ``$$`` for a
literal ``$``); a ``$`` not followed by ``{`` is kept, so nginx's ``$host`` passes untouched.
A variable the instance does not have is an error (a config with an empty port would start
and fail obscurely).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mooring.manifest.interpolate import InterpolationError, Interpolator


def render_templates(
    service: str, templates: Sequence[Mapping[str, Any]], env: Mapping[str, str]
) -> dict[str, str]:
    """Destination -> rendered text; raises ValueError naming the template and the variable."""
    files: dict[str, str] = {}
    for index, template in enumerate(templates):
        where = f"service.{service}.template[{index}] ({template.get('source') or 'data'})"
        interpolator = Interpolator(env)
        try:
            text = interpolator.expand(template.get("data") or "")
        except InterpolationError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if interpolator.unset:
            names = ", ".join(f"${{{n}}}" for n in sorted(set(interpolator.unset)))
            raise ValueError(
                f"{where}: {names} is not set in the instance's environment;"
                " give it in env, or write ${NAME:-default}"
            )
        files[template["destination"]] = text
    return files


_INSTANCE_VAR = re.compile(r"\$\{(PORT|MOORING_[A-Z0-9_]+)\}")


def expand_instance_vars(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, ...]:
    """``${PORT}`` and ``${MOORING_*}`` in a process's arguments, from the instance's environment.

    What the instance is told only at start (its port, its directory) can so reach a program that
    reads no environment, with no shell: ``["nginx", "-c", "${MOORING_INSTANCE_DIR}/nginx.conf"]``
    (written ``$${...}`` in the manifest, whose own interpolation would expand it at load time).
    A name the instance does not have is left as it is.
    """
    return tuple(_INSTANCE_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), arg) for arg in argv)
