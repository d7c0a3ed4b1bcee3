"""Postfix's mail log as outcomes: one line in, counts per (day, account, IP, provider) out.

Pure on purpose: no file, no clock, no network. The time a line is read against ("now")
and the log's time zone are arguments, so every rule here is tested table by table, and
the reader, the state file and gRPC stay thin shells around it.

What a line says, and what we take from it:

* **Formats.** The syslog form ``Dec 01 00:38:26 host postfix/smtp[123]: QID: …`` (Postfix's
  own ``maillog_file`` writes it with a zero-padded day; syslog daemons pad with a space;
  an optional ``.123456`` fraction is accepted) and the RFC 3339 form
  ``2026-12-01T00:32:18.123456+00:00 host …`` (rsyslog's high-precision template).
* **Day** = the line's date in UTC. An RFC 3339 stamp says its zone (none: the log's zone).
  A syslog stamp has no year and no zone: it is read in the log's zone (the machine's,
  unless told), in the latest year that does not put it more than a day after now. So a
  ``Dec 31`` line read on 2 January is last year's, and a log up to 364 days old is dated
  right; an older backlog read in one go is not (syslog never wrote the year down).
* **Delivery lines** come from the transports ``sendingip postfix master-cf`` defines,
  whose ``syslog_name`` is ``postfix/sendingip_<ip>``: ``postfix/sendingip_192_0_2_1/smtp``.
  Any other program's delivery line was not routed by us and is ignored.
* **Classification** of a recipient's line: ``status=sent`` delivered, ``status=bounced``
  bounced; ``status=deferred`` is throttled when the enhanced code is 4.7.x or the remote
  server answered 421 (``said: 421 …``, ``refused to talk to me: 421 …``), else deferred.
  Each line is one of the four, never two.
* **Attribution.** A delivery line names a queue id, not an account. The account is taken
  as the policy door takes it (``SENDINGIP_POSTFIX_ACCOUNT``): ``sasl_username`` from smtpd's
  ``QID: client=…, sasl_username=NAME``; ``sender`` from qmgr's ``QID: from=<ADDR>, …``;
  ``sender_domain`` the part of that address after its last ``@``, lower-cased. The map is bounded
  (oldest queue ids go first) and a queue id leaves it at qmgr's ``QID: removed``.
  A delivery whose queue id has no account is counted as unattributed, not reported.
  (qmgr logs the sender after cleanup's rewriting, e.g. ``canonical_maps``; the door saw
  it as the client sent it. Where a rewrite changes it, the two differ: prefer
  ``sasl_username`` then.)

Garbage, non-UTF-8 bytes and cut-off lines are lines like any other: they match nothing
and are skipped. Nothing here raises on input.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from enum import IntEnum

from server.adapters.postfix_names import account_of, ip_from_transport
from server.router.providers import ProviderTable

#: (day, account_id, ip, mailbox_provider): the key of ``daily_outcomes`` and of ReportOutcomes.
OutcomeKey = tuple[date, str, str, str]

ACCOUNT_MODES = ("sasl_username", "sender", "sender_domain")


class Kind(IntEnum):
    """What became of one recipient on one attempt; the value indexes the count lists."""

    DELIVERED = 0
    DEFERRED = 1
    BOUNCED = 2
    THROTTLED = 3


_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
# A queue id: short ones are upper-case hex; long ones (enable_long_queue_ids) use digits
# and consonants only. Neither has a lower-case vowel, so `warning:` or `NOQUEUE:` is none.
_QID = r"(?:[0-9A-F]{4,32}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{4,32})"
_LINE = re.compile(
    r"(?:(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hm>\d\d:\d\d):\d\d(?:\.\d{1,9})?"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d):\d\d(?:\.\d{1,9})?(?P<zone>Z|[+-]\d\d:?\d\d)?)"
    r" \S{1,255} (?P<prog>[^\s\[:]{1,255})(?:\[\d{1,10}\])?: (?P<qid>" + _QID + r"): (?P<msg>.*)",
    re.DOTALL,
)
_DELIVERY = re.compile(
    r"to=<(?P<rcpt>.{0,1000}?)>, .*?\bdsn=(?P<dsn>\d\.\d{1,3}\.\d{1,3}), "
    r"status=(?P<status>sent|deferred|bounced)\b(?P<why>.*)",
    re.DOTALL,
)
_SASL = re.compile(r"client=.*?\bsasl_username=(?P<name>[^,]*)", re.DOTALL)
_FROM = re.compile(r"from=<(?P<addr>.{0,1000}?)>(?:,|$)", re.DOTALL)
_REPLY_421 = re.compile(r"(?:said|refused to talk to me|replied):\s*421(?!\d)")


def classify(status: str, dsn: str, why: str) -> Kind:
    """A recipient line's outcome from its ``status=``, ``dsn=`` and the text after the status."""
    if status == "sent":
        return Kind.DELIVERED
    if status == "bounced":
        return Kind.BOUNCED
    if dsn.startswith("4.7.") or _REPLY_421.search(why):
        return Kind.THROTTLED
    return Kind.DEFERRED


class LineClock:
    """A line's UTC day from its timestamp (see the module's docstring for the rules).

    ``now`` (aware) is set by the caller as it reads; answers are cached per minute of
    stamp text, so a busy log costs one dictionary lookup per line.
    """

    __slots__ = ("_cache", "_limit", "now", "tz")

    def __init__(self, tz: tzinfo, now: datetime) -> None:
        self.tz = tz
        self.now = now
        self._limit = now + timedelta(days=1)
        self._cache: dict[tuple[str, str, str], date | None] = {}

    def set_now(self, now: datetime) -> None:
        self.now = now
        self._limit = now + timedelta(days=1)
        self._cache.clear()

    def syslog_day(self, mon: str, day: str, hm: str) -> date | None:
        key = (mon, day, hm)
        try:
            return self._cache[key]
        except KeyError:
            if len(self._cache) > 10_000:
                self._cache.clear()
            found = self._cache[key] = self._syslog(mon, int(day), int(hm[:2]), int(hm[3:]))
        return found

    def iso_day(self, minute: str, zone: str | None) -> date | None:
        key = (minute, zone or "", "iso")
        try:
            return self._cache[key]
        except KeyError:
            if len(self._cache) > 10_000:
                self._cache.clear()
            found = self._cache[key] = self._iso(minute, zone)
        return found

    def _syslog(self, mon: str, day: int, hour: int, minute: int) -> date | None:
        month = _MONTHS.get(mon)
        if month is None or hour > 23 or minute > 59:
            return None
        local_year = self.now.astimezone(self.tz).year
        for year in range(local_year + 1, local_year - 8, -1):  # back to the latest 29 February
            try:
                stamp = datetime(year, month, day, hour, minute, tzinfo=self.tz)
            except ValueError:  # 30 February, or 29 February of a common year
                continue
            if stamp <= self._limit:
                return stamp.astimezone(UTC).date()
        return None

    def _iso(self, minute: str, zone: str | None) -> date | None:
        try:
            stamp = datetime.fromisoformat(minute)
            if zone is None:
                stamp = stamp.replace(tzinfo=self.tz)
            elif zone == "Z":
                stamp = stamp.replace(tzinfo=UTC)
            else:
                sign = -1 if zone[0] == "-" else 1
                digits = zone[1:].replace(":", "")
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                stamp = stamp.replace(tzinfo=timezone(sign * offset))
        except ValueError:
            return None
        return stamp.astimezone(UTC).date()


class Accounts:
    """Queue id → account, bounded: past ``limit`` the queue id seen first goes first."""

    __slots__ = ("_map", "evicted", "limit", "mode")

    def __init__(self, mode: str, limit: int, known: Iterable[tuple[str, str]] = ()) -> None:
        if mode not in ACCOUNT_MODES:
            raise ValueError(f"account mode {mode!r}: expected one of {', '.join(ACCOUNT_MODES)}")
        self.mode = mode
        self.limit = limit
        self.evicted = 0
        self._map: OrderedDict[str, str] = OrderedDict()
        for qid, account in known:
            self._remember(qid, account)

    def __len__(self) -> int:
        return len(self._map)

    def get(self, qid: str) -> str | None:
        return self._map.get(qid)

    def note(self, qid: str, msg: str) -> None:
        """Learn from a line that is not a delivery: an account, or a queue id gone."""
        if msg == "removed":
            self._map.pop(qid, None)
            return
        if self.mode == "sasl_username":
            if msg.startswith("client=") and (m := _SASL.match(msg)) is not None:
                self._learn(qid, m["name"])
        elif msg.startswith("from=<") and (m := _FROM.match(msg)) is not None:
            self._learn(qid, m["addr"])

    def items(self) -> list[tuple[str, str]]:
        """Oldest first, as ``known`` takes them back."""
        return list(self._map.items())

    def _learn(self, qid: str, value: str) -> None:
        account = account_of(self.mode, value)
        if account is None:
            return
        if qid in self._map:
            self._map[qid] = account  # qmgr logs from= again each time a message is reactivated
        else:
            self._remember(qid, account)

    def _remember(self, qid: str, account: str) -> None:
        self._map[qid] = account
        if len(self._map) > self.limit:
            self._map.popitem(last=False)
            self.evicted += 1


@dataclass
class Counts:
    """What the lines since the last ``take()`` held, for the progress line."""

    lines: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    throttled: int = 0
    #: Our transports' deliveries whose queue id had no known account (not reported).
    unattributed: int = 0
    #: Our transports' deliveries whose timestamp could not be read (not reported).
    undated: int = 0
    #: A few unattributed queue ids, for the log line.
    unattributed_examples: list[str] = field(default_factory=list)


_KIND_FIELDS = ("delivered", "deferred", "bounced", "throttled")


class PostfixLog:
    """Feeds lines; ``take()`` hands over the counts since the last take."""

    def __init__(self, accounts: Accounts, providers: ProviderTable, clock: LineClock) -> None:
        self.accounts = accounts
        self.providers = providers
        self.clock = clock
        self._tally: dict[OutcomeKey, list[int]] = {}
        self._counts = Counts()
        self._ips: dict[str, str | None] = {}

    def feed(self, raw: bytes) -> None:
        self._counts.lines += 1
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        m = _LINE.match(text)
        if m is None:
            return
        qid, msg = m["qid"], m["msg"]
        if not msg.startswith("to=<"):
            self.accounts.note(qid, msg)
            return
        ip = self._ip_of(m["prog"])
        if ip is None:
            return
        d = _DELIVERY.match(msg)
        if d is None:
            return
        self._delivery(m, qid, ip, d)

    def take(self) -> tuple[dict[OutcomeKey, list[int]], Counts]:
        tally, counts = self._tally, self._counts
        self._tally, self._counts = {}, Counts()
        return tally, counts

    def _delivery(self, m: re.Match[str], qid: str, ip: str, d: re.Match[str]) -> None:
        counts = self._counts
        account = self.accounts.get(qid)
        if account is None:
            counts.unattributed += 1
            if len(counts.unattributed_examples) < 3:
                counts.unattributed_examples.append(qid)
            return
        day = (
            self.clock.syslog_day(m["mon"], m["day"], m["hm"]) if m["mon"] else self.clock.iso_day(m["iso"], m["zone"])
        )
        if day is None:
            counts.undated += 1
            return
        kind = classify(d["status"], d["dsn"], d["why"])
        key = (day, account, ip, self.providers.classify(d["rcpt"]))
        sums = self._tally.get(key)
        if sums is None:
            sums = self._tally[key] = [0, 0, 0, 0]
        sums[kind] += 1
        name = _KIND_FIELDS[kind]
        setattr(counts, name, getattr(counts, name) + 1)

    def _ip_of(self, program: str) -> str | None:
        """The IP of ``postfix/sendingip_<ip>/smtp``; None for any other program (cached)."""
        try:
            return self._ips[program]
        except KeyError:
            pass
        ip = None
        for part in reversed(program.split("/")[:-1]):
            ip = ip_from_transport(part)
            if ip is not None:
                break
        if len(self._ips) > 10_000:
            self._ips.clear()
        self._ips[program] = ip
        return ip
