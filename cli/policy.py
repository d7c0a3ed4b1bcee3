"""`sendingip policy show` and `sendingip policy set KEY=VALUE...` (GetPolicy / UpdatePolicy).

A change takes effect at the next rebalance. Lists are comma-separated:
``policy set warmup_schedule=200,500,1000 mailbox_providers=google,other``.
A provider's own schedule is PROVIDER:LIMITS, one provider per item, and no limits removes it:
``policy set provider_schedules=microsoft:100,300,1000 provider_schedules=yahoo:``.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from cli import client, output
from sendingip.v1 import management_pb2, types_pb2

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
    for key in _OUTPUT_ONLY:  # who changed it last, below the settings
        values[key] = values.pop(key)
    if as_json:
        output.print_json(values)
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}:{','.join(str(v) for v in limits)}" for k, limits in value.items()) or "none"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            value = output.number(value)
        print(f"{key.ljust(width)}  {value}")
