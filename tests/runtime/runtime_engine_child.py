"""A throw-away engine for the adoption tests: starts instances, prints every record, never stops.

Run as ``python runtime_engine_child.py '<json config>'``; the test kills it with SIGKILL, the way
an engine crash would end it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mooring.runtime import BackoffPolicy, InstanceRecord, InstanceSpec, Supervisor
from mooring.runtime.cgroups import CgroupHost


async def main(config: dict[str, Any]) -> None:
    host = CgroupHost.detect(config["prefix"], nest_in_own_cgroup=True)

    def on_change(record: InstanceRecord) -> None:
        print(json.dumps(record.to_dict()), flush=True)

    sup = Supervisor(config["log_dir"], cgroups=host, on_change=on_change, backoff=BackoffPolicy(base=0.05))
    for spec in config["specs"]:
        await sup.start(InstanceSpec.from_dict(spec))
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
