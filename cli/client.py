"""What the client commands share: a gRPC channel to the server, the API key, TLS,
``--json``, and one clean line for any error.

Server: ``--server HOST:PORT``, else ``SENDINGIP_LISTEN``, else the address a local
``sendingip serve`` wrote down (``cli/local_server.py``), else 127.0.0.1:50051.
Key: ``SENDINGIP_API_KEY`` (never an argument: arguments show in ``ps``).
TLS: ``SENDINGIP_TLS_CA=ca.pem`` (trust that CA) or ``SENDINGIP_TLS=1`` (system roots);
``SENDINGIP_TLS_SERVER_NAME`` when the certificate names another host than ``--server``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from cli import local_server
from sendingip.v1 import management_pb2_grpc, router_pb2_grpc
from server.auth.tls import channel_credentials

DEFAULT_SERVER = "127.0.0.1:50051"


class UsageError(Exception):
    """Bad input found before any call; printed as ``error: <message>``."""


def add_client_options(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help=f"the sendingip server (default: SENDINGIP_LISTEN, else a local server's, else {DEFAULT_SERVER})",
    )
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per call (default 30)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")


@dataclass
class Client:
    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...]
    timeout: float

    @property
    def management(self) -> Any:  # the generated stubs are untyped
        return management_pb2_grpc.ManagementStub(self.channel)  # type: ignore[no-untyped-call]

    @property
    def router(self) -> Any:
        return router_pb2_grpc.RouterStub(self.channel)  # type: ignore[no-untyped-call]

    def call(self, method: Any, request: Any) -> Any:
        return method(request, metadata=self.metadata, timeout=self.timeout)


@contextmanager
def open_client(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Iterator[Client]:
    env = os.environ if env is None else env
    target = server_address(args, env)
    key = env.get("SENDINGIP_API_KEY", "").strip()
    metadata = (("authorization", f"Bearer {key}"),) if key else ()
    ca = env.get("SENDINGIP_TLS_CA")
    options: list[tuple[str, Any]] = []
    if env.get("SENDINGIP_TLS_SERVER_NAME"):
        options.append(("grpc.ssl_target_name_override", env["SENDINGIP_TLS_SERVER_NAME"]))
    if ca or (env.get("SENDINGIP_TLS") or "").lower() in ("1", "true", "yes"):
        try:
            credentials = channel_credentials(Path(ca) if ca else None)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    try:
        yield Client(channel=channel, metadata=metadata, timeout=args.timeout)
    finally:
        channel.close()


def server_address(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """``--server``, ``SENDINGIP_LISTEN``, a running local server's, or the default."""
    return getattr(args, "server", None) or env.get("SENDINGIP_LISTEN") or local_server.find_grpc(env) or DEFAULT_SERVER


def run(args: argparse.Namespace, body: Callable[[Client], int]) -> int:
    """Run ``body`` with a client; any failure is one line on stderr and exit code 1."""
    try:
        with open_client(args) as client:
            return body(client)
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = (err.details() if isinstance(err, grpc.Call) else None) or str(err)
        hint = ""
        if code == grpc.StatusCode.UNAUTHENTICATED and not os.environ.get("SENDINGIP_API_KEY"):
            hint = " (set SENDINGIP_API_KEY)"
        elif code == grpc.StatusCode.UNAVAILABLE:
            hint = " (is `sendingip serve` running, and --server/SENDINGIP_LISTEN right?)"
        print(f"error: {code.name}: {details}{hint}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
