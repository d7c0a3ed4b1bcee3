"""An IP's hostname (its EHLO and PTR name, SPEC §3 AddIPs v2): the one rule every door
and the schema's CHECK (migration 0011) apply.

A DNS name of at most 253 characters: dot-separated labels of 1-63 letters, digits and
hyphens, none starting or ending with a hyphen. Stored in lower case (DNS names are
case-insensitive, and Postfix's ``smtp_helo_name`` is sent as written); a trailing dot,
the root, is dropped.
"""

from __future__ import annotations

import re

MAX_LENGTH = 253
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def normalize(value: str) -> str:
    """``value`` as stored; ``ValueError`` saying which rule it breaks."""
    name = value.lower().removesuffix(".")
    if not name:
        raise ValueError("must not be empty")
    if len(name) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters, got {len(name)}")
    if _NAME.fullmatch(name) is None:
        raise ValueError(
            "must be a DNS name: labels of 1-63 letters, digits and hyphens (not first or last), joined by dots"
        )
    return name
