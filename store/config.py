"""Configuration read from the environment, once, into frozen dataclasses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatabaseConfig:
    #: ``SENDINGIP_DATABASE_URL``: the PostgreSQL to use. When unset, an embedded
    #: PostgreSQL is started under ``data_dir`` (a newcomer needs nothing but Python).
    url: str | None = None
    #: ``SENDINGIP_DATA_DIR``: where the embedded PostgreSQL keeps its files.
    data_dir: Path = Path(".data")
    #: ``SENDINGIP_DB_POOL_SIZE``: connections per process in the asyncpg pool.
    pool_size: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DatabaseConfig:
        env = os.environ if env is None else env
        return cls(
            url=env.get("SENDINGIP_DATABASE_URL") or None,
            data_dir=Path(env.get("SENDINGIP_DATA_DIR") or ".data"),
            pool_size=env_int(env, "SENDINGIP_DB_POOL_SIZE", 10, minimum=1),
        )


class ConfigError(ValueError):
    """A setting in the environment is malformed; the message names it."""


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """A whole-number setting; a clear error naming the variable when it is not one."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def env_seconds(
    env: Mapping[str, str], name: str, default: float, *, minimum: float | None = None, unit: str = "seconds"
) -> float:
    """A duration (in ``unit``); a clear error naming the variable when it is not one.

    Without ``minimum`` it must be more than 0 (infinity allowed: "never"). With one, it must
    be at least ``minimum`` and finite: ``minimum=0`` is for settings where 0 means "off".
    """
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of {unit}") from None
    if minimum is None:
        if not value > 0:
            raise ConfigError(f"{name}={raw!r}: must be more than 0")
    elif not minimum <= value < float("inf"):
        raise ConfigError(f"{name}={raw!r}: must be {minimum:g} or more")
    return value
