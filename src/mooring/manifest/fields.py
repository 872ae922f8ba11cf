"""Field types of the manifest: each parses the forms operators write and says clearly what it expects."""

from __future__ import annotations

import ipaddress
import re
import signal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from mooring.manifest.durations import DURATION_HELP, DURATION_PATTERN, format_duration, parse_duration

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_NAME = re.compile(NAME_PATTERN)
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# Values are interpolated before validation, so the schema lets a patterned string carry ${VAR}.
INTERPOLATED = r"\$\{"


class Frozen(BaseModel):
    """Base of every manifest model: immutable, unknown keys rejected, no inf/nan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        suggestion = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63] or "web"
        raise ValueError(
            f"{kind} name {name!r} is not valid: use lowercase letters, digits and '-' "
            f"(at most 63, e.g. {suggestion!r})"
        )
    return name


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected {DURATION_HELP} in quotes, got {value!r}")
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"pattern": DURATION_PATTERN}, {"pattern": INTERPOLATED}],
            "examples": ["10s", "500ms", "1m30s"],
        }
    ),
]

_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def _byte_size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f'expected a size such as "256MiB" or "1G", got {value!r}')
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and (m := _BYTES.match(value)) and m.group(2).lower() in _BYTE_UNITS:
        amount = int(float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()])
    else:
        raise ValueError(f'expected a size such as "256MiB", "512M" or "1G", got {value!r}')
    if amount < 1024 * 1024:
        raise ValueError(f"{value!r} is below 1MiB; no process runs in less")
    if amount > 2**50:
        raise ValueError(f"{value!r} is larger than any host")
    return amount


ByteSize = Annotated[
    int,
    BeforeValidator(_byte_size),
    WithJsonSchema({"type": ["string", "integer"], "examples": ["256MiB", "1G"]}),
]


def _cpu(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f'expected cores such as 0.5, 2 or "500m", got {value!r}')
    if isinstance(value, str) and value.endswith("m") and value[:-1].isdigit():
        cores = int(value[:-1]) / 1000
    elif isinstance(value, int | float):
        cores = float(value)
    else:
        raise ValueError(f'expected cores such as 0.5, 2 or "500m", got {value!r}')
    if not 0.001 <= cores <= 1024:
        raise ValueError(f"{value!r} is out of range; give between 0.001 and 1024 cores")
    return cores


Cpu = Annotated[
    float,
    BeforeValidator(_cpu),
    WithJsonSchema({"type": ["number", "string"], "examples": [0.5, 2, "250m"]}),
]


def _signal(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected a signal name such as "SIGTERM", got {value!r}')
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in signal.Signals.__members__ or name in ("SIGKILL", "SIGSTOP"):
        raise ValueError(
            f'{value!r} is not a signal a process can handle; use e.g. "SIGTERM", "SIGINT", "SIGQUIT"'
        )
    return name


Signal = Annotated[
    str,
    BeforeValidator(_signal),
    WithJsonSchema({"type": "string", "examples": ["SIGTERM", "SIGINT", "SIGQUIT"]}),
]


def _command(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("command is empty; give a shell command string or an argv list")
        return value
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("command is an empty list; give at least the program to run")
        if not all(isinstance(part, str) for part in value):
            raise ValueError("every element of an argv list must be a string")
        if not value[0]:
            raise ValueError("the program (first element) of the command is empty")
        return tuple(value)
    raise ValueError(
        f'expected a string ("python app.py") or an argv list (["python", "app.py"]), got {value!r}'
    )


Command = Annotated[
    str | tuple[str, ...],
    BeforeValidator(_command),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


def _scalar_text(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"{what} must be a string, number or boolean, got {type(value).__name__}")


def _env(value: Any) -> dict[str, str]:
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        for i, entry in enumerate(value):
            if not isinstance(entry, str) or "=" not in entry:
                raise ValueError(
                    f'entry {i} ({entry!r}) is not "KEY=VALUE"; or write env as a table: KEY = "value"'
                )
            key, _, val = entry.partition("=")
            items.append((key, val))
    else:
        raise ValueError('expected a table (env = { KEY = "value" }) or a list of "KEY=VALUE" strings')
    env: dict[str, str] = {}
    for key, val in items:
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise ValueError(
                f"{key!r} is not a valid variable name (letters, digits, '_'; not starting with a digit)"
            )
        if key in env:
            raise ValueError(f"variable {key!r} is set twice")
        env[key] = _scalar_text(val, f"value of {key}")
    return env


EnvMap = Annotated[
    dict[str, str],
    BeforeValidator(_env),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.]*="}},
            ]
        }
    ),
]


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"expected a string or a list of strings, got {value!r}")


StrList = Annotated[
    tuple[str, ...],
    BeforeValidator(_str_list),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


class PortMapping(Frozen):
    """``[HOST_IP:]HOST_PORT:PORT`` publishes the instance's ``PORT``; a bare ``PORT`` only declares it."""

    port: int
    host_port: int | None = None
    host_ip: str | None = None

    def render(self) -> str:
        if self.host_port is None:
            return str(self.port)
        ip = self.host_ip or ""
        if ":" in ip:
            ip = f"[{ip}]"
        return f"{ip + ':' if ip else ''}{self.host_port}:{self.port}"


def _port_number(text: str, what: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{what} {text!r} in {entry!r} must be a number from 1 to 65535")
    return int(text)


def parse_port_mapping(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return value
    entry = value.strip()
    body = entry[:-4] if entry.endswith("/tcp") else entry
    host_ip: str | None = None
    if body.startswith("["):
        close = body.find("]:")
        if close < 0:
            raise ValueError(f'{entry!r}: write an IPv6 host address as "[::1]:8080:80"')
        host_ip, body = body[1:close], body[close + 2 :]
        parts = body.split(":")
        if len(parts) != 2:
            raise ValueError(f'{entry!r} is not "[HOST_IP]:HOST_PORT:PORT"')
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
        elif len(parts) not in (1, 2):
            raise ValueError(f'{entry!r} is not "PORT", "HOST_PORT:PORT" or "HOST_IP:HOST_PORT:PORT"')
    if host_ip is not None:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise ValueError(f"host address {host_ip!r} in {entry!r} is not an IP address") from None
    if len(parts) == 1:
        return {"port": _port_number(parts[0], "port", entry)}
    return {
        "host_ip": host_ip,
        "host_port": _port_number(parts[0], "host port", entry),
        "port": _port_number(parts[1], "port", entry),
    }


Port = Annotated[
    PortMapping,
    BeforeValidator(parse_port_mapping),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {"pattern": r"^((\[[0-9a-fA-F:]+\]|[0-9.]+):)?(\d+:)?\d+(/tcp)?$"},
                {"pattern": INTERPOLATED},
            ],
            "examples": ["8080:80", "127.0.0.1:8080:80", "80"],
        }
    ),
]


class VolumeMount(Frozen):
    """``SOURCE:TARGET[:ro]``: a bind mount when SOURCE is a path, else a named ``[volume.*]``."""

    source: str
    target: str
    read_only: bool = False

    @property
    def is_bind(self) -> bool:
        return self.source.startswith(("/", "./", "../", "~")) or self.source in (".", "..")


def parse_volume_mount(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parts = value.split(":")
    mode = None
    if len(parts) == 3:
        mode = parts.pop()
        if mode not in ("ro", "rw"):
            raise ValueError(f'{value!r}: the mode must be "ro" or "rw", got {mode!r}')
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError(f'{value!r} is not "SOURCE:TARGET" or "SOURCE:TARGET:ro"')
    if not parts[1].startswith("/"):
        raise ValueError(f"{value!r}: the target {parts[1]!r} must be an absolute path inside the container")
    return {"source": parts[0], "target": parts[1], "read_only": mode == "ro"}


Mount = Annotated[
    VolumeMount,
    BeforeValidator(parse_volume_mount),
    WithJsonSchema({"type": "string", "examples": ["data:/var/lib/data", "./conf:/etc/app:ro"]}),
]
