"""The engine's port proxy: published ports forwarded to the ready instances of a service."""

from mooring.network.counters import Counters
from mooring.network.proxy import Proxy, PublishError
from mooring.network.upstreams import Balance, Upstream, UpstreamSet

__all__ = ["Balance", "Counters", "Proxy", "PublishError", "Upstream", "UpstreamSet"]
