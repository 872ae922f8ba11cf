"""Both drivers implement the Driver protocol the engine dispatches over (mypy checks the signatures
in runtime/dispatch.py; this checks the members at run time, as a third driver would be checked)."""

from __future__ import annotations

from pathlib import Path

from mooring.runtime import Supervisor
from mooring.runtime.container import ContainerDriver, resolve_address
from mooring.runtime.driver import Driver


def test_the_process_and_container_drivers_are_drivers(tmp_path: Path) -> None:
    process = Supervisor(tmp_path / "logs")
    container = ContainerDriver(resolve_address(tmp_path), home_label=str(tmp_path))
    assert isinstance(process, Driver) and process.name == "process"
    assert isinstance(container, Driver) and container.name == "container"
    assert "nope" not in process and "nope" not in container


def test_a_driver_missing_a_member_is_not_a_driver() -> None:
    class Partial:
        name = "partial"

        async def start(self, spec: object) -> None: ...

    assert not isinstance(Partial(), Driver)
