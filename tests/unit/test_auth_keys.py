"""API keys as text, and the in-memory check every call goes through (no database)."""

from __future__ import annotations

import grpc
import pytest

from server.auth import keys
from server.auth.authorizer import ActiveKey, KeyAuthorizer


def _active(new: keys.NewKey, permissions: set[str], accounts: set[str] | None = None) -> ActiveKey:
    return ActiveKey(
        new.key_id, new.secret_hash, frozenset(permissions), None if accounts is None else frozenset(accounts)
    )


def _md(token: str) -> list[tuple[str, str]]:
    return [("user-agent", "test"), ("authorization", f"Bearer {token}")]


def test_a_generated_key_parses_back_and_its_secret_is_256_random_bits() -> None:
    new = keys.generate()
    assert new.token.startswith(f"sip_{new.key_id}_")
    assert keys.parse(new.token) == (new.key_id, new.secret)
    assert len(new.secret) >= 43  # token_urlsafe(32)
    assert len(new.secret_hash) == 32
    assert keys.generate().token != new.token


@pytest.mark.parametrize(
    "token",
    [
        "",
        "sip",
        "sip_",
        "xyz_abcdefgh12_" + "a" * 43,
        "sip_ABCDEFGH12_" + "a" * 43,
        "sip_abc_" + "a" * 43,
        "sip_abcdefgh12_short",
    ],
)
def test_malformed_tokens_do_not_parse(token: str) -> None:
    assert keys.parse(token) is None


def test_bearer_token_reads_the_authorization_metadata() -> None:
    assert keys.bearer_token(None) is None
    assert keys.bearer_token([("x", "y")]) is None
    assert keys.bearer_token([("authorization", "Bearer abc")]) == "abc"
    assert keys.bearer_token([("authorization", "bearer  abc ")]) == "abc"
    assert keys.bearer_token([("authorization", b"Bearer abc")]) == "abc"
    assert keys.bearer_token([("authorization", "Basic abc")]) == ""


def test_permissions_are_validated_and_put_in_canonical_order() -> None:
    assert keys.parse_permissions("admin, route") == ("route", "admin")
    with pytest.raises(ValueError, match="unknown permission 'root'"):
        keys.parse_permissions("view,root")
    with pytest.raises(ValueError, match="at least one"):
        keys.parse_permissions(" , ")


def test_every_denial_has_the_status_the_spec_names() -> None:
    admin, view, scoped, route, revoked = (keys.generate() for _ in range(5))
    authz = KeyAuthorizer(
        [
            _active(admin, {"admin"}),
            _active(view, {"view"}),
            _active(scoped, {"view", "admin"}, {"acme"}),
            _active(route, {"route"}),
        ]
    )
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    denied = grpc.StatusCode.PERMISSION_DENIED

    def code(metadata: list[tuple[str, str]] | None, permission: str, accounts: tuple[str, ...] = ()) -> object:
        denial = authz.check(metadata, permission, accounts)  # type: ignore[arg-type]
        return None if denial is None else denial[0]

    assert code(None, "view") == unauthenticated
    assert code([("authorization", "Basic x")], "view") == unauthenticated
    assert code(_md("not-a-key"), "view") == unauthenticated
    assert code(_md(revoked.token), "view") == unauthenticated  # never loaded = unknown
    wrong_secret = f"sip_{view.key_id}_{keys.generate().secret}"
    assert code(_md(wrong_secret), "view") == unauthenticated

    assert code(_md(view.token), "view", ("acme",)) is None
    assert code(_md(view.token), "admin") == denied
    assert code(_md(admin.token), "view", ("any",)) is None  # admin implies view
    assert code(_md(admin.token), "route") == denied  # ... but not route
    assert code(_md(route.token), "route", ("acme",)) is None
    assert code(_md(route.token), "view") == denied

    assert code(_md(scoped.token), "view", ("acme",)) is None
    assert code(_md(scoped.token), "view", ("other",)) == denied
    assert code(_md(scoped.token), "admin", ("acme", "other")) == denied
    assert code(_md(scoped.token), "admin", (keys.ALL_ACCOUNTS,)) == denied
    assert code(_md(admin.token), "admin", (keys.ALL_ACCOUNTS,)) is None


def test_messages_name_the_key_and_the_rule_but_never_the_secret() -> None:
    view = keys.generate()
    authz = KeyAuthorizer([_active(view, {"view"}, {"acme"})])
    denial = authz.check(_md(view.token), "view", ["other"])
    assert denial is not None and view.key_id in denial[1] and "'other'" in denial[1]
    assert view.secret not in denial[1]
    denial = authz.check(_md(view.token), "admin", [])
    assert denial is not None and "'admin' permission" in denial[1]


def test_a_revoked_key_stops_working_when_the_keys_are_replaced() -> None:
    new = keys.generate()
    authz = KeyAuthorizer([_active(new, {"route"})])
    assert authz.check(_md(new.token), "route") is None
    authz.replace([])
    denial = authz.check(_md(new.token), "route")
    assert denial is not None and denial[0] == grpc.StatusCode.UNAUTHENTICATED


def test_before_the_first_load_calls_are_unavailable_not_unauthenticated() -> None:
    authz = KeyAuthorizer()
    denial = authz.check(_md(keys.generate().token), "route")
    assert denial is not None and denial[0] == grpc.StatusCode.UNAVAILABLE
    authz.replace([])
    denial = authz.check(_md(keys.generate().token), "route")
    assert denial is not None and denial[0] == grpc.StatusCode.UNAUTHENTICATED
