"""Access-control settings of the server, read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from store.config import env_seconds


@dataclass(frozen=True)
class AuthConfig:
    #: ``SENDINGIP_TLS_CERT``: PEM certificate (chain) of the server; with ``tls_key``
    #: the server accepts TLS only. Unset: plaintext.
    tls_cert: Path | None = None
    #: ``SENDINGIP_TLS_KEY``: PEM private key of ``tls_cert``.
    tls_key: Path | None = None
    #: ``SENDINGIP_KEY_REFRESH_SECONDS``: how often the API keys are re-read even without a
    #: notification (the fallback behind LISTEN/NOTIFY: the most a missed one can delay a
    #: revocation).
    key_refresh_seconds: float = 30.0
    #: ``SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS``: a server that starts while PostgreSQL is down
    #: serves the keys it saved on disk (``server/auth/saved.py``) only if PostgreSQL confirmed
    #: them less than this long ago. A key revoked since then is accepted until PostgreSQL
    #: answers; this bounds how stale that can be. 0: never serve saved keys (calls are
    #: UNAVAILABLE until PostgreSQL answers).
    saved_keys_max_age_hours: float = 24.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthConfig:
        cert, key = env.get("SENDINGIP_TLS_CERT"), env.get("SENDINGIP_TLS_KEY")
        refresh = env_seconds(env, "SENDINGIP_KEY_REFRESH_SECONDS", cls.key_refresh_seconds)
        if bool(cert) != bool(key):
            raise ValueError("TLS needs both SENDINGIP_TLS_CERT and SENDINGIP_TLS_KEY (or neither)")
        return cls(
            tls_cert=Path(cert) if cert else None,
            tls_key=Path(key) if key else None,
            key_refresh_seconds=refresh,
            saved_keys_max_age_hours=env_seconds(
                env, "SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS", cls.saved_keys_max_age_hours, minimum=0, unit="hours"
            ),
        )
