"""``Refusal``: a call answered with a status instead of a result, whatever door it came by.

gRPC aborts with it; the HTTP door writes it as the status code's HTTP status and
``{"code", "message"}``; the line door as ``ERR CODE message``. One exception type so that
the rules that refuse (access, validation, no routing table) are written once.
"""

from __future__ import annotations

import grpc


class Refusal(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
