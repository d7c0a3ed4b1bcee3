"""Rule 7 (v2) modes and SPEC §2's per-account overrides, through the pure ``decide``.

Each test states what an operator would see: the management type, the pool's IPs and
the ``reason``; and that one account's override or mode never leaks into another's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta

import pytest

from cli.client import UsageError
from cli.policy import account_override, parse_settings
from store.accounts import ACCOUNT_MODES, account_mode
from store.policy_settings import AccountOverride, policy_from_mapping, policy_to_mapping
from workers.policy import (
    AccountState,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    Decision,
    PairState,
    Policy,
    PoolIP,
    ReleaseToQuarantine,
    StartDrain,
    decide,
)
from workers.policy.modes import FROZEN
from workers.simulate.scenario import ScenarioError, parse_scenario
from workers.simulate.world import World

D0 = date(2025, 3, 1)
INVENTORY = ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4")
DEFAULTS = Policy()
PROVIDERS = DEFAULTS.mailbox_providers


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def history(daily: Sequence[int]) -> list[DayHistory]:
    """One day per non-zero entry, all of it to google (enough for these rules)."""
    return [DayHistory(day(i), {"google": n}) for i, n in enumerate(daily) if n > 0]


def account(
    mode: str = "auto", *, management: str = "general", ips: Sequence[str] = (), who: str = "acme"
) -> AccountState:
    return AccountState(
        who,
        "us-east",
        management_type=management,  # type: ignore[arg-type]
        transition_started_on=None if management == "general" else D0,
        ips=tuple(PoolIP(a, D0) for a in ips),
        mode=account_mode(mode),
    )


def pairs_of(*addresses: str, stage: int = 3) -> tuple[PairState, ...]:
    return tuple(PairState(a, p, stage, day(29)) for a in addresses for p in PROVIDERS)


def run(
    state: AccountState, window: Sequence[DayHistory], policy: Policy = DEFAULTS, pairs: Sequence[PairState] = ()
) -> Decision:
    return decide(policy, state, pairs, window, INVENTORY, day(30))


OVERRIDES = Policy(
    account_overrides={
        "acme": AccountOverride(dedicated_threshold_30d=100_000),
        "capped": AccountOverride(max_ips_per_account=2),
    }
).validate()


# -- the policy: for_account, validation, mapping ---------------------------------------


def test_for_account_applies_only_that_accounts_override() -> None:
    own = OVERRIDES.for_account("acme")
    assert own.dedicated_threshold_30d == 100_000
    assert own.max_ips_per_account == 10
    assert OVERRIDES.for_account("someone-else") is OVERRIDES
    assert own.for_account("acme") == own  # applying it again changes nothing
    assert OVERRIDES.for_account("capped").max_ips_per_account == 2
    assert OVERRIDES.for_account("capped").dedicated_threshold_30d == 250_000


def test_overrides_round_trip_through_a_mapping() -> None:
    mapping = policy_to_mapping(OVERRIDES)
    assert mapping["account_overrides"] == {
        "acme": {"dedicated_threshold_30d": 100_000},
        "capped": {"max_ips_per_account": 2},
    }
    assert policy_from_mapping(mapping) == OVERRIDES


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bad id": {"max_ips_per_account": 2}}, "account_overrides names 'bad id': an account id is 1-128"),
        ({"x" * 129: {"max_ips_per_account": 2}}, "an account id is 1-128 characters"),
        ({"acme": {}}, "account_overrides[acme] must set at least one of dedicated_threshold_30d"),
        ({"acme": {"max_ips_per_account": 0}}, "account_overrides[acme].max_ips_per_account must be a whole number in [1, 1000], got 0"),
        ({"acme": {"max_ips_per_account": 1001}}, "max_ips_per_account must be a whole number in [1, 1000], got 1001"),
        ({"acme": {"dedicated_threshold_30d": 0}}, "dedicated_threshold_30d must be a whole number in [1, "),
        ({"acme": {"dedicated_threshold_30d": 2**63}}, "dedicated_threshold_30d must be a whole number in [1, "),
        ({"acme": {"dedicated_threshold_30d": 1.5}}, "must be a whole number"),
        ({"acme": {"dedicated_threshold_30d": 50_000}}, "account_overrides[acme].dedicated_threshold_30d must be >= general_threshold_30d (100000), got 50000"),
        ({"acme": {"min_active_days": 2}}, "account_overrides[acme] may set only dedicated_threshold_30d, max_ips_per_account, not min_active_days"),
        ({"acme": 3}, "account_overrides[acme] must map a setting to its value"),
        ([1, 2], "account_overrides must map an account id to its overrides"),
    ],
)  # fmt: skip
def test_a_bad_override_is_refused_naming_the_account_and_the_rule(overrides: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        policy_from_mapping({"account_overrides": overrides})
    assert message in str(raised.value)


def test_raising_the_general_threshold_above_an_override_is_refused() -> None:
    with pytest.raises(ValueError, match=r"account_overrides\[acme\]\.dedicated_threshold_30d must be >="):
        dataclasses.replace(OVERRIDES, general_threshold_30d=150_000).validate()


def test_too_many_overrides_are_refused() -> None:
    many = {f"a{i}": {"max_ips_per_account": 2} for i in range(10_001)}
    with pytest.raises(ValueError, match="at most 10000 accounts"):
        policy_from_mapping({"account_overrides": many})


def test_modes_are_the_spec_four() -> None:
    assert ACCOUNT_MODES == ("auto", "general", "dedicated", "frozen")
    with pytest.raises(ValueError, match="must be one of auto, general, dedicated, frozen, got 'pinned'"):
        account_mode("pinned")


# -- overrides in decide ----------------------------------------------------------------


def test_an_override_threshold_moves_that_account_and_says_so() -> None:
    window = history([5_000] * 30)  # 150,000: below the policy's 250,000
    own = run(account(), window, OVERRIDES)
    assert own.account.management_type == "transition"
    assert own.actions == (AssignIP("203.0.113.1"), ChangeManagementType("general", "transition"))
    assert own.reason.startswith(
        "volume_30d 150,000 ≥ dedicated_threshold_30d 100,000 (account override) over 30 active days: assigned 1 IP"
    )
    other = run(account(who="other"), window, OVERRIDES)
    assert other.account.management_type == "general"
    assert other.reason == "General: volume_30d 150,000 < 250,000"


def test_an_override_threshold_is_named_when_it_keeps_an_account_general() -> None:
    decision = run(account(), history([3_000] * 30), OVERRIDES)
    assert decision.account.management_type == "general"
    assert decision.reason == "General: volume_30d 90,000 < dedicated_threshold_30d 100,000 (account override)"


def test_passing_the_effective_policy_decides_the_same() -> None:
    window = history([5_000] * 30)
    assert run(account(), window, OVERRIDES) == run(account(), window, OVERRIDES.for_account("acme"))


def test_an_override_max_ips_caps_the_pool_and_says_so() -> None:
    window = history([10_000_000] * 30)  # the peak needs 4 IPs of 2,500,000
    capped = run(account(who="capped"), window, OVERRIDES)
    assert [ip.address for ip in capped.account.ips] == ["203.0.113.1", "203.0.113.2"]
    assert "assigned 2 IPs (at most 2: max_ips_per_account, account override)" in capped.reason
    uncapped = run(account(who="other"), window, OVERRIDES)
    assert len(uncapped.account.ips) == 4
    assert "account override" not in uncapped.reason


def test_an_override_max_ips_lowered_later_drains_down_to_it() -> None:
    window = history([10_000_000] * 30)
    addresses = INVENTORY
    policy = Policy(scale_in_days=1, account_overrides={"acme": AccountOverride(max_ips_per_account=3)})
    decision = run(account(management="dedicated", ips=addresses), window, policy, pairs=pairs_of(*addresses))
    assert len([a for a in decision.actions if isinstance(a, StartDrain)]) == 1
    assert "needs 3 IPs (at most 3: max_ips_per_account, account override)" in decision.reason


# -- rule 7 modes -------------------------------------------------------------------------


def test_mode_dedicated_enters_transition_below_threshold_and_active_days() -> None:
    decision = run(account("dedicated"), history([0] * 28 + [1_000, 1_000]))  # 2,000 over 2 days
    assert decision.account.management_type == "transition"
    assert decision.actions == (AssignIP("203.0.113.1"), ChangeManagementType("general", "transition"))
    assert decision.reason.startswith("mode dedicated set by an operator: assigned 1 IP (203.0.113.1)")
    assert decision.account.mode == "dedicated"  # decide never changes it


def test_mode_dedicated_even_without_any_history_gets_one_ip() -> None:
    decision = run(account("dedicated"), [])
    assert [ip.address for ip in decision.account.ips] == ["203.0.113.1"]


def test_mode_dedicated_is_never_returned_to_general_for_low_volume() -> None:
    ips = ("203.0.113.9",)
    decision = run(account("dedicated", management="dedicated", ips=ips), history([100] * 30), pairs=pairs_of(*ips))
    assert decision.account.management_type == "dedicated"
    assert not any(isinstance(a, (StartDrain, ChangeManagementType)) for a in decision.actions)
    auto = run(account(management="dedicated", ips=ips), history([100] * 30), pairs=pairs_of(*ips))
    assert auto.account.management_type == "general"  # the same account in auto would leave


def test_mode_general_keeps_a_qualifying_account_general() -> None:
    decision = run(account("general"), history([20_000] * 30))
    assert decision.account.management_type == "general"
    assert decision.actions == ()
    assert decision.reason == "General: mode general set by an operator (never dedicated); volume_30d 600,000"


@pytest.mark.parametrize("management", ["transition", "dedicated"])
def test_mode_general_returns_a_pool_account_to_general_and_drains(management: str) -> None:
    ips = ("203.0.113.8", "203.0.113.9")
    state = account("general", management=management, ips=ips)
    decision = run(state, history([20_000] * 30), pairs=pairs_of(*ips))
    assert decision.account.management_type == "general"
    assert decision.actions == (
        StartDrain("203.0.113.8"),
        StartDrain("203.0.113.9"),
        ChangeManagementType(management, "general"),  # type: ignore[arg-type]
    )
    assert decision.reason.startswith("mode general set by an operator: back to General, draining 2 IPs")
    assert decision.route.providers == {}
    # The next day the drained IPs go to quarantine, and it stays General.
    later = decide(Policy(), decision.account, decision.pairs, history([20_000] * 30), INVENTORY, day(31))
    assert later.account.management_type == "general"
    assert [a for a in later.actions if isinstance(a, ReleaseToQuarantine)] == [
        ReleaseToQuarantine("203.0.113.8", day(61)),
        ReleaseToQuarantine("203.0.113.9", day(61)),
    ]


@pytest.mark.parametrize("management", ["general", "transition", "dedicated"])
def test_mode_frozen_changes_nothing_and_says_so(management: str) -> None:
    ips = () if management == "general" else ("203.0.113.8", "203.0.113.9")
    given = pairs_of(*ips, stage=3)
    # Volumes that would otherwise move it: a General account qualifies; a pool account falls below.
    window = history([20_000] * 30 if management == "general" else [100] * 30)
    state = account("frozen", management=management, ips=ips)
    decision = run(state, window, pairs=given)
    assert decision.actions == ()
    assert decision.account.management_type == management
    assert decision.account.ips == state.ips
    assert set(decision.pairs) == set(given)  # stages neither advance nor fall
    assert decision.reason.startswith(FROZEN)
    assert decision.reason.startswith("frozen by an operator")


def test_mode_frozen_keeps_a_draining_ip_and_its_stages() -> None:
    state = dataclasses.replace(
        account("frozen", management="dedicated", ips=("203.0.113.8",)),
        ips=(PoolIP("203.0.113.8", D0), PoolIP("203.0.113.9", D0, draining_since=day(20))),
    )
    given = pairs_of("203.0.113.8", "203.0.113.9", stage=5)
    decision = run(state, history([2_000_000] * 30), pairs=given)
    assert decision.actions == ()
    assert decision.account.ips == state.ips
    assert set(decision.pairs) == set(given)


def test_mode_frozen_days_do_not_count_toward_scale_in() -> None:
    ips = INVENTORY[:3]
    state = dataclasses.replace(
        account("frozen", management="dedicated", ips=ips), scale_in_streak=2, scale_in_checked_on=day(20)
    )
    decision = run(state, history([1_000_000] * 30), pairs=pairs_of(*ips))
    assert decision.account.scale_in_streak == 2
    assert decision.account.scale_in_checked_on == day(30)


def test_frozen_wins_over_a_pause_and_a_pause_over_mode_general() -> None:
    ips = ("203.0.113.8",)
    paused = dataclasses.replace(account("general", management="dedicated", ips=ips), paused=True)
    decision = run(paused, history([20_000] * 30), pairs=pairs_of(*ips))
    assert decision.account.management_type == "dedicated"  # the pause freezes the type
    frozen = dataclasses.replace(paused, mode="frozen")
    assert run(frozen, history([20_000] * 30), pairs=pairs_of(*ips)).reason.startswith(FROZEN)


@pytest.mark.parametrize("mode", ACCOUNT_MODES)
def test_a_second_run_for_the_same_day_changes_nothing_in_any_mode(mode: str) -> None:
    window = history([20_000] * 30)
    first = run(account(mode), window)
    again = decide(Policy(), first.account, first.pairs, window, INVENTORY, day(30))
    assert again.actions == ()
    assert again.account == first.account
    assert set(again.pairs) == set(first.pairs)


# -- the CLI's spelling (`sendingip policy set account_overrides=...`) ---------------------


def test_the_cli_reads_an_account_override_item() -> None:
    update = parse_settings(
        ["account_overrides=acme:dedicated_threshold_30d=100_000,max_ips_per_account=3", "account_overrides=a:b:"]
    )
    first, second = update.account_overrides
    assert (first.account_id, first.dedicated_threshold_30d, first.max_ips_per_account) == ("acme", 100_000, 3)
    # An id may hold ':'; no settings: the override is removed.
    assert second.account_id == "a:b"
    assert not second.HasField("dedicated_threshold_30d") and not second.HasField("max_ips_per_account")
    only = account_override("user:x:max_ips_per_account=2")
    assert (only.account_id, only.max_ips_per_account, only.HasField("dedicated_threshold_30d")) == ("user:x", 2, False)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("account_overrides=acme", "account_overrides: 'acme' is not ACCOUNT:SETTING=VALUE"),
        ("account_overrides=:max_ips_per_account=3", "is not ACCOUNT:SETTING=VALUE"),
        ("account_overrides=acme:min_active_days=3", "'min_active_days=3' is not SETTING=VALUE with SETTING one of"),
        (
            "account_overrides=acme:max_ips_per_account=three",
            "account_overrides: 'acme:max_ips_per_account=three' is not",
        ),
    ],
)
def test_the_cli_refuses_a_bad_account_override_item(item: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_settings([item])
    assert message in str(raised.value)


# -- the simulator ---------------------------------------------------------------------------


def test_a_scenario_policy_takes_account_overrides_and_the_simulator_honours_them() -> None:
    raw = {
        "days": 40,
        "start": D0,
        "policy": {"account_overrides": {"early": {"dedicated_threshold_30d": 150_000}}},
        "regions": [{"name": "us-east", "general_pool": ["198.51.100.1"], "inventory": ["203.0.113.1"]}],
        "accounts": [
            {"id": who, "region": "us-east", "volume": {"pattern": "steady", "daily": 7_000}}
            for who in ("early", "plain")
        ],
    }
    scenario = parse_scenario(raw)
    assert scenario.policy.for_account("early").dedicated_threshold_30d == 150_000
    last = {r.account.spec.account_id: r.decision for r in World(scenario).run()}
    assert last["early"].account.management_type != "general"  # 210,000 a window ≥ its own 150,000
    assert last["plain"].account.management_type == "general"  # < the policy's 250,000
    with pytest.raises(ScenarioError, match=r"account_overrides\[early\]\.dedicated_threshold_30d must be >="):
        parse_scenario({**raw, "policy": {"account_overrides": {"early": {"dedicated_threshold_30d": 5}}}})
