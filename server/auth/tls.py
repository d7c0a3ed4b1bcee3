"""Optional TLS: the server's credentials from certificate and key files, the clients'
from a CA bundle. Without them the server listens in plaintext (fine on loopback or
inside a mesh that terminates TLS; not across an untrusted network: keys travel in
metadata)."""

from __future__ import annotations

from pathlib import Path

import grpc


def server_credentials(cert: Path | None, key: Path | None) -> grpc.ServerCredentials | None:
    """Credentials for ``add_secure_port``; ``None`` when TLS is not configured."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("TLS needs both SENDINGIP_TLS_CERT and SENDINGIP_TLS_KEY")
    return grpc.ssl_server_credentials([(_read(key, "SENDINGIP_TLS_KEY"), _read(cert, "SENDINGIP_TLS_CERT"))])


def channel_credentials(ca: Path | None) -> grpc.ChannelCredentials:
    """Trust ``ca`` (a PEM bundle), or the system's roots when ``None``."""
    return grpc.ssl_channel_credentials(root_certificates=None if ca is None else _read(ca, "SENDINGIP_TLS_CA"))


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}={path}: {exc.strerror or exc}") from None
