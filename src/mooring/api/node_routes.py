"""Cluster routes: the Swarm's nodes, and draining or activating one (docs/cluster.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

if TYPE_CHECKING:
    from mooring.engine.core import Engine


class NodeView(BaseModel):
    id: str
    name: str
    role: str | None
    availability: str | None
    state: str | None
    address: str | None
    leader: bool
    tasks: int


class AvailabilityRequest(BaseModel):
    availability: Literal["active", "pause", "drain"]


def make_node_router(engine: Engine) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/nodes", response_model=list[NodeView])
    async def nodes() -> list[dict[str, Any]]:
        """Every node of the engine's Swarm cluster, with the number of this engine's tasks on it."""
        return await engine.nodes()

    @router.post("/v1/nodes/{node}/availability", response_model=NodeView)
    async def set_availability(node: str, body: AvailabilityRequest) -> dict[str, Any]:
        """``drain`` moves the node's tasks to other nodes; ``active`` lets Swarm place tasks on it again."""
        return await engine.set_node_availability(node, body.availability)

    return router
