"""The routing table in memory, compiled for the pick.

Loading an entry does every piece of work a pick would otherwise repeat: IPs with no
weight are dropped, weights are turned into cumulative fractions ending at 1.0, each
provider's route is looked up once. Compiled objects are immutable; the table swaps
references, so a pick never sees half an entry.

Every account has an entry (SPEC §3 v2: a known account routes in its own region), and
most never leave General: their entries say only which region they are in. Such an
account's ``CompiledAccount`` shares everything but its version with its region's others
(``home_account``), and for the snapshot its region's one stored text stands for its own
(``home_text``): each costs the table an object, its key, its version and its dict slots,
390 bytes, 39 MB for 100k accounts (measured with tracemalloc; 830 bytes as ordinary
entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate

from sendingip.v1 import types_pb2
from server.proto_enums import MANAGEMENT_TYPE_TO_PROTO
from store.overflow import overflows_within_pool
from store.routing_entry import (
    FALLBACK_PROVIDER,
    AccountRoute,
    ProviderRoute,
    RegionRoute,
    StoredAccount,
    StoredRegion,
    StoredRoute,
    decode_account,
    decode_region,
)


@dataclass(slots=True)  # never mutated; not frozen because frozen __init__ is ~2x slower to load
class CompiledRoute:
    """One provider's dedicated split, ready for ``pick``."""

    #: Share of the traffic that goes to the dedicated pool (0..1).
    dedicated_share: float
    #: The IPs with a positive weight, in entry order.
    addresses: tuple[str, ...]
    #: Running sum of the normalised weights; the last is exactly 1.0.
    cumulative: tuple[float, ...]
    #: Normalised weight of each address (for re-picks among a subset).
    weights: tuple[float, ...]
    #: Today's limit of each (IP, provider) pair, ``None`` when warm.
    limits: tuple[int | None, ...]
    #: Whether any pair has a limit (else the limit counters are never consulted).
    limited: bool
    #: The account's ``hourly_burst`` (rule 10: how fast the limits are released through
    #: the day; 0 = all at once), from its entry.
    hourly_burst: float
    #: The account's ``ip_capacity`` (rule 9: the most one of its IPs carries a day over all
    #: providers, warm or warming), ``None`` when uncapped, from its entry.
    capacity: int | None


@dataclass(slots=True)  # never mutated; not frozen because frozen __init__ is ~2x slower to load
class CompiledAccount:
    account_id: str
    region: str
    management_type: int  # types_pb2.ManagementType
    #: Whether overflow goes to the pool's other IPs first (Dedicated) or straight to
    #: the general pool (Transition), SPEC rule 8: ``store.overflow.overflows_within_pool``.
    dedicated: bool
    pool_id: str
    version: int
    #: Route by provider name; ``fallback`` is used for any provider the entry does not name.
    routes: dict[str, CompiledRoute]
    fallback: CompiledRoute | None
    #: Providers the entry names that send nothing through the pool (``dedicated_share`` 0,
    #: e.g. rule 13's provider without capacity yet): the general pool, never ``fallback``.
    shared: frozenset[str] = frozenset()

    def route(self, provider: str) -> CompiledRoute | None:
        found = self.routes.get(provider)
        if found is not None or provider in self.shared:
            return found
        return self.fallback


@dataclass(slots=True)  # never mutated; not frozen because frozen __init__ is ~2x slower to load
class CompiledRegion:
    region: str
    pool_id: str
    addresses: tuple[str, ...]
    version: int
    #: (rule 12) Running sum of the addresses' weights, the last exactly 1.0, while an IP is
    #: ramping in; ``()``: equal shares.
    cumulative: tuple[float, ...] = ()


def compile_route(
    route: ProviderRoute | StoredRoute,
    hourly_burst: float = 0.0,
    capacity: int | None = None,
    resting: frozenset[str] = frozenset(),
) -> CompiledRoute | None:
    """``resting``: addresses the same-day breaker rests for this provider (rule 11): their
    limit is 0, so the pick finds them full and their mail goes where ``store.overflow`` says."""
    share = route.dedicated_share
    if not share > 0:
        return None
    addresses: list[str] = []
    weights: list[float] = []
    limits: list[int | None] = []
    total = 0.0
    for ip in route.ips:  # one pass: this runs for every provider of every entry loaded
        if ip.weight > 0:
            addresses.append(ip.address)
            weights.append(ip.weight)
            limits.append(0 if resting and ip.address in resting else ip.daily_limit)
            total += ip.weight
    if not addresses:
        return None
    normalised = [w / total for w in weights]  # (list comprehensions: no generator frames)
    cumulative = list(accumulate(normalised))
    cumulative[-1] = 1.0  # no gap from rounding at the top
    return CompiledRoute(
        min(share, 1.0),
        tuple(addresses),
        tuple(cumulative),
        tuple(normalised),
        tuple(limits),
        limits.count(None) < len(limits),
        hourly_burst,
        capacity,
    )


#: The routes of an account in General without a pool: none (shared, never mutated).
_NO_ROUTES: dict[str, CompiledRoute] = {}
#: One str per region for every such account (each decoded entry brings its own copy).
_REGIONS: dict[str, str] = {}
#: One frozenset per distinct ``CompiledAccount.shared`` (most accounts share a few).
_SHARED: dict[frozenset[str], frozenset[str]] = {}
_NONE: frozenset[str] = frozenset()


def home_account(region: str, version: int) -> CompiledAccount:
    """The entry of an account of ``region`` in General without a pool: the region's
    general pool. Everything but the version is shared with its region's others."""
    region = _REGIONS.setdefault(region, region)
    return CompiledAccount(
        account_id="",
        region=region,
        management_type=types_pb2.MANAGEMENT_TYPE_GENERAL,
        dedicated=False,
        pool_id="",
        version=version,
        routes=_NO_ROUTES,
        fallback=None,
    )


def is_home(account: CompiledAccount) -> bool:
    """``account`` came from ``home_account``."""
    return account.routes is _NO_ROUTES


def compile_account(
    entry: AccountRoute | StoredAccount, version: int, rests: frozenset[tuple[str, str]] = frozenset()
) -> CompiledAccount:
    """``rests``: the (address, provider) pairs of the pool resting now (rule 11)."""
    if entry.management_type == "general" and entry.pool_id is None:
        return home_account(entry.region, version)
    routes: dict[str, CompiledRoute] = {}
    if entry.management_type != "general":
        for provider, route in entry.providers.items():
            resting = frozenset(a for a, p in rests if p == provider) if rests else frozenset()
            compiled = compile_route(route, entry.hourly_burst, entry.ip_capacity, resting)
            if compiled is not None:
                routes[provider] = compiled
    shared = frozenset(p for p in entry.providers if p not in routes) if entry.management_type != "general" else _NONE
    return CompiledAccount(
        account_id=entry.account_id,
        region=entry.region,
        management_type=MANAGEMENT_TYPE_TO_PROTO[entry.management_type],
        dedicated=overflows_within_pool(entry.management_type),
        pool_id=entry.pool_id or "",
        version=version,
        routes=routes,
        fallback=routes.get(FALLBACK_PROVIDER),
        shared=_SHARED.setdefault(shared, shared),
    )


def compile_region(entry: RegionRoute | StoredRegion, version: int) -> CompiledRegion:
    addresses = tuple(entry.addresses)
    cumulative: tuple[float, ...] = ()
    weights = entry.weights
    total = sum(weights)
    if len(weights) == len(addresses) and addresses and total > 0:
        running = list(accumulate(w / total for w in weights))
        running[-1] = 1.0  # no gap from rounding at the top
        cumulative = tuple(running)
    return CompiledRegion(entry.region, entry.pool_id, addresses, version, cumulative)


@dataclass
class RoutingTable:
    """Accounts and regions by key. Mutated only by the loader, one entry at a time."""

    accounts: dict[str, CompiledAccount] = field(default_factory=dict)
    regions: dict[str, CompiledRegion] = field(default_factory=dict)
    #: Raw JSON of every entry by (kind, key), with its version: what the snapshot saves.
    raw: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    #: Highest version applied completely (every entry up to it is in the table).
    version: int = 0
    #: Whether a table has been loaded at all (from PostgreSQL or a snapshot).
    loaded: bool = False
    #: (rule 11) The pairs the same-day breaker rests now, by account: compiled in as full.
    rests: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)

    def set_rests(self, rests: dict[str, frozenset[tuple[str, str]]]) -> list[str]:
        """Make ``rests`` the resting pairs; recompile the accounts whose pairs changed
        (from their stored text, same version). Returns those accounts."""
        old, self.rests = self.rests, rests
        changed = [a for a in old.keys() | rests.keys() if old.get(a, _NO_PAIRS) != rests.get(a, _NO_PAIRS)]
        for account_id in changed:
            stored = self.raw.get((_ACCOUNT, account_id))
            current = self.accounts.get(account_id)
            if stored is None or current is None or is_home(current):
                continue  # not in the table (yet): compiled with its rests when it comes
            version, text = stored
            self.accounts[account_id] = compile_account(decode_account(text), version, rests.get(account_id, _NO_PAIRS))
        return changed

    def put(self, kind: str, key: str, version: int, text: str, compiled: CompiledAccount | CompiledRegion) -> None:
        if isinstance(compiled, CompiledAccount):
            self.accounts[key] = compiled
            kind = _ACCOUNT  # one str for every row (each row brings its own copy)
            if is_home(compiled):
                # The snapshot needs only the region of a home entry: its region's one text
                # stands for all of them (the line's key names the account).
                text = home_text(compiled.region)
        else:
            self.regions[key] = compiled
        self.raw[(kind, key)] = (version, text)


_ACCOUNT = "account"
_NO_PAIRS: frozenset[tuple[str, str]] = frozenset()
_HOME_TEXTS: dict[str, str] = {}


def home_text(region: str) -> str:
    """The stored text every home entry of ``region`` is kept as (compiles to ``home_account``)."""
    text = _HOME_TEXTS.get(region)
    if text is None:
        text = _HOME_TEXTS[region] = AccountRoute("", region, "general", date(1970, 1, 1), None).to_json()
    return text


def compile_entry(
    kind: str, text: str, version: int, rests: frozenset[tuple[str, str]] = frozenset()
) -> CompiledAccount | CompiledRegion:
    """Parse and compile one stored entry; ``ValueError`` when it is malformed. ``rests``:
    an account's resting pairs (rule 11)."""
    if kind == "account":
        return compile_account(decode_account(text), version, rests)
    if kind == "region":
        return compile_region(decode_region(text), version)
    raise ValueError(f"routing entry: unknown kind {kind!r}")
