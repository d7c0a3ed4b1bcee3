"""`sendingip policy show` and `sendingip policy set KEY=VALUE...` (GetPolicy / UpdatePolicy).

A change takes effect at the next rebalance. Lists are comma-separated:
``policy set warmup_schedule=200,500,1000 mailbox_providers=google,other``.
A provider's own schedule is PROVIDER:LIMITS, one provider per item, and no limits removes it:
``policy set provider_schedules=microsoft:100,300,1000 provider_schedules=yahoo:``.
An account's own settings are ACCOUNT:SETTING=VALUE,..., one account per item; the item replaces
that account's override, and no settings remove it:
``policy set account_overrides=acme:dedicated_threshold_30d=100000,max_ips_per_account=3 account_overrides=old:``.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from cli import client, output
from sendingip.v1 import management_pb2, types_pb2
from store.policy_limits import OVERRIDABLE

_OUTPUT_ONLY = ("updated_by", "updated_at")
SETTABLE = tuple(f.name for f in types_pb2.Policy.DESCRIPTOR.fields if f.name not in _OUTPUT_ONLY)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("policy", help="show or change the rebalancer's policy")
    sub = parser.add_subparsers(dest="policy_command", metavar="{show,set}", required=True)
    show = sub.add_parser("show", help="the policy in force")
    client.add_client_options(show)
    show.set_defaults(func=show_command)
    change = sub.add_parser(
        "set",
        help="change some settings (the next rebalance uses them)",
        description=__doc__ + "\nSettings: " + ", ".join(SETTABLE),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    change.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    client.add_client_options(change)
    change.set_defaults(func=set_command)


def parse_settings(items: list[str]) -> types_pb2.Policy:
    """``KEY=VALUE`` items as a partial Policy; ``UsageError`` names a bad one."""
    policy = types_pb2.Policy()
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in SETTABLE:
            raise client.UsageError(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(SETTABLE)}")
        field = types_pb2.Policy.DESCRIPTOR.fields_by_name[key]
        try:
            if key == "provider_schedules":
                policy.provider_schedules.append(_provider_schedule(raw))
            elif key == "account_overrides":
                policy.account_overrides.append(account_override(raw))
            elif field.is_repeated:
                parts = [p.strip() for p in raw.split(",") if p.strip()]
                if not parts:
                    raise ValueError("a comma-separated list of at least one value")
                target = getattr(policy, key)
                del target[:]
                target.extend(
                    int(p.replace("_", "")) if field.type != FieldDescriptor.TYPE_STRING else p for p in parts
                )
            elif field.type == FieldDescriptor.TYPE_DOUBLE:
                setattr(policy, key, float(raw.rstrip("%")))
            elif field.type == FieldDescriptor.TYPE_STRING:
                setattr(policy, key, raw.strip())
            else:
                setattr(policy, key, int(raw.replace("_", "")))
        except (ValueError, OverflowError) as exc:
            detail = str(exc) if "list" in str(exc) else "a number of the right kind"
            raise client.UsageError(f"{key}: {raw!r} is not {detail}") from None
    return policy


def _provider_schedule(raw: str) -> types_pb2.ProviderSchedule:
    """``microsoft:100,300,1000`` (set that provider's schedule) or ``microsoft:`` (remove it)."""
    provider, sep, limits = raw.partition(":")
    if not sep or not provider.strip():
        raise client.UsageError(
            f"provider_schedules: {raw!r} is not PROVIDER:LIMITS, e.g. microsoft:100,300,1000 (microsoft: removes it)"
        )
    parts = [p.strip() for p in limits.split(",") if p.strip()]
    return types_pb2.ProviderSchedule(provider=provider.strip(), limits=[int(p.replace("_", "")) for p in parts])


def account_override(raw: str) -> types_pb2.AccountOverride:
    """``acme:max_ips_per_account=3,dedicated_threshold_30d=100000`` (set) or ``acme:`` (remove).

    An account id may hold ``:`` but never ``=`` or ``,``: the id ends at the last ``:``
    before the first setting.
    """
    equals = raw.find("=")
    account, sep, settings = raw[: equals if equals >= 0 else len(raw)].rpartition(":")
    settings += raw[equals:] if equals >= 0 else ""
    if not sep or not account.strip():
        raise client.UsageError(
            f"account_overrides: {raw!r} is not ACCOUNT:SETTING=VALUE,..., e.g. "
            "acme:dedicated_threshold_30d=100000,max_ips_per_account=3 (acme: removes it)"
        )
    override = types_pb2.AccountOverride(account_id=account.strip())
    for item in (p.strip() for p in settings.split(",") if p.strip()):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in OVERRIDABLE:
            raise client.UsageError(
                f"account_overrides: {item!r} is not SETTING=VALUE with SETTING one of {', '.join(OVERRIDABLE)}"
            )
        setattr(override, name.strip(), int(value.strip().replace("_", "")))
    return override


def show_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        print_policy(c.call(c.management.GetPolicy, management_pb2.GetPolicyRequest()), args.json)
        return 0

    return client.run(args, body)


def set_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        update = parse_settings(args.settings)
        policy = c.call(c.management.UpdatePolicy, management_pb2.UpdatePolicyRequest(policy=update))
        print_policy(policy, args.json)
        if not args.json:
            print("\n(takes effect at the next rebalance)")
        return 0

    return client.run(args, body)


def print_policy(policy: types_pb2.Policy, as_json: bool) -> None:
    values = output.to_dict(policy)
    # provider -> its limits, as a scenario's [policy.provider_schedules] writes them
    values["provider_schedules"] = {s.provider: list(s.limits) for s in policy.provider_schedules}
    # account -> its own settings, as a scenario's [policy.account_overrides] writes them
    values["account_overrides"] = {
        o.account_id: {name: getattr(o, name) for name in OVERRIDABLE if o.HasField(name)}
        for o in policy.account_overrides
    }
    for key in _OUTPUT_ONLY:  # who changed it last, below the settings
        values[key] = values.pop(key)
    if as_json:
        output.print_json(values)
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        if key == "account_overrides":
            value = " ".join(
                f"{k}:{','.join(f'{name}={v}' for name, v in settings.items())}" for k, settings in value.items()
            )
            value = value or "none"
        elif isinstance(value, dict):
            value = " ".join(f"{k}:{','.join(str(v) for v in limits)}" for k, limits in value.items()) or "none"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            value = output.number(value)
        print(f"{key.ljust(width)}  {value}")
