"""The server's configuration, read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from store.config import DatabaseConfig


@dataclass(frozen=True)
class ServerConfig:
    #: ``SENDINGIP_LISTEN``: host:port of the gRPC server (port 0 picks a free one).
    listen: str = "127.0.0.1:50051"
    #: ``SENDINGIP_DEFAULT_REGION``: region for accounts a request names no region for.
    default_region: str = "us-east"
    #: ``SENDINGIP_AUTO_MIGRATE``: apply pending migrations at start (default on; turn
    #: off where `sendingip migrate` runs as its own deployment step).
    auto_migrate: bool = True
    #: Seconds in-flight RPCs get to finish on SIGTERM before they are cancelled.
    shutdown_grace: float = 5.0
    database: DatabaseConfig = field(default_factory=DatabaseConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if env is None else env
        return cls(
            listen=env.get("SENDINGIP_LISTEN") or cls.listen,
            default_region=env.get("SENDINGIP_DEFAULT_REGION") or cls.default_region,
            auto_migrate=(env.get("SENDINGIP_AUTO_MIGRATE") or "1").lower() not in ("0", "false", "no"),
            database=DatabaseConfig.from_env(env),
        )
