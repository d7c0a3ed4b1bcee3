"""Starts and stops the doors a router process serves besides gRPC (SPEC §5).

Each configured door gets a ``Listener``; all of them share one ``Deps`` (the router's
picker and servicers), so a pick is a pick whichever door it came in by.
"""

from __future__ import annotations

import logging

from server.adapters import http, line, postfix
from server.adapters.config import AdapterConfig
from server.adapters.deps import Deps
from server.adapters.listener import Listener
from server.management.servicer import ManagementServicer
from server.router.runtime import RouterRuntime

log = logging.getLogger(__name__)


class Doors:
    def __init__(self, listeners: dict[str, Listener]) -> None:
        self.listeners = listeners

    @property
    def ports(self) -> dict[str, int]:
        return {name: listener.port for name, listener in self.listeners.items()}

    @classmethod
    async def start(cls, config: AdapterConfig, router: RouterRuntime, management: ManagementServicer | None) -> Doors:
        """Binds every configured door; ``ListenError`` (nothing left open) when one cannot."""
        deps = Deps(
            picker=router.servicer.picker,
            router=router.servicer,
            management=management,
            config=config,
            ready=lambda: router.table.loaded,
            adapter_metadata=Deps.bearer(config.adapter_key) if config.adapter_key else (),
        )
        wanted = [
            ("http", config.http_listen, http.door, True),
            ("postfix", config.postfix_listen, postfix.door, False),
            ("line", config.line_listen, line.door, False),
        ]
        doors = cls({})
        try:
            for name, listen, door, trusted in wanted:
                if listen:
                    listener = Listener(name, listen, door(deps), config, trusted=trusted)
                    await listener.start()
                    doors.listeners[name] = listener
        except BaseException:
            await doors.stop()
            raise
        return doors

    async def stop(self) -> None:
        """Idempotent: no new connections, the open ones closed."""
        for listener in self.listeners.values():
            await listener.stop()
