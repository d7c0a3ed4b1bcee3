"""Recipient domain → mailbox provider (SPEC §1), a table an operator can extend."""

from __future__ import annotations

from collections.abc import Mapping

from store.routing_entry import PROVIDER_NAME

OTHER = "other"

DEFAULT_DOMAINS: Mapping[str, tuple[str, ...]] = {
    "google": ("gmail.com", "googlemail.com"),
    "microsoft": ("outlook.com", "hotmail.com", "live.com", "msn.com"),
    "yahoo": ("yahoo.com", "ymail.com", "aol.com"),
    "apple": ("icloud.com", "me.com", "mac.com"),
}


class ProviderTable:
    """Classifies a recipient domain; unknown domains are ``other``."""

    __slots__ = ("_by_domain", "providers")

    def __init__(self, domains: Mapping[str, tuple[str, ...]] = DEFAULT_DOMAINS) -> None:
        by_domain: dict[str, str] = {}
        for provider, names in domains.items():
            if not PROVIDER_NAME.fullmatch(provider):
                raise ValueError(f"mailbox provider {provider!r}: expected 1-32 of [a-z0-9_-]")
            for domain in names:
                by_domain[_normalise(domain)] = provider
        self._by_domain = by_domain
        #: Every provider name a request may pass explicitly.
        self.providers: frozenset[str] = frozenset(domains) | {OTHER}

    @classmethod
    def with_overrides(cls, spec: str) -> ProviderTable:
        """The default table plus ``provider=domain,domain;provider=domain`` (later wins)."""
        domains = {p: list(d) for p, d in DEFAULT_DOMAINS.items()}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            provider, sep, names = part.partition("=")
            provider = provider.strip()
            if not sep or not provider:
                raise ValueError(f"SENDINGIP_PROVIDER_DOMAINS: {part!r} is not provider=domain,domain")
            for name in filter(None, (n.strip() for n in names.split(","))):
                for listed in domains.values():
                    if name in listed:
                        listed.remove(name)
                domains.setdefault(provider, []).append(name)
        return cls({p: tuple(d) for p, d in domains.items()})

    def classify(self, domain: str) -> str:
        """The provider of ``domain`` (a bare domain or a whole address)."""
        found = self._by_domain.get(domain)
        if found is not None:
            return found
        return self._by_domain.get(_normalise(domain), OTHER)


def _normalise(domain: str) -> str:
    return domain.rpartition("@")[2].strip().rstrip(".").lower()
