from sendingip.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListSendingIPsRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ListSendingIPsResponse(_message.Message):
    __slots__ = ("account", "ips")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    IPS_FIELD_NUMBER: _ClassVar[int]
    account: _types_pb2.Account
    ips: _containers.RepeatedCompositeFieldContainer[_types_pb2.SendingIP]
    def __init__(self, account: _Optional[_Union[_types_pb2.Account, _Mapping]] = ..., ips: _Optional[_Iterable[_Union[_types_pb2.SendingIP, _Mapping]]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ("region", "management_type", "page_size", "page_token")
    REGION_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region: str
    management_type: _types_pb2.ManagementType
    page_size: int
    page_token: str
    def __init__(self, region: _Optional[str] = ..., management_type: _Optional[_Union[_types_pb2.ManagementType, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts", "next_page_token")
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Account]
    next_page_token: str
    def __init__(self, accounts: _Optional[_Iterable[_Union[_types_pb2.Account, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("account_id", "region")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    region: str
    def __init__(self, account_id: _Optional[str] = ..., region: _Optional[str] = ...) -> None: ...

class AddIPsRequest(_message.Message):
    __slots__ = ("region", "addresses", "purpose", "hostnames")
    REGION_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    HOSTNAMES_FIELD_NUMBER: _ClassVar[int]
    region: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    purpose: _types_pb2.IpPurpose
    hostnames: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, region: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., purpose: _Optional[_Union[_types_pb2.IpPurpose, str]] = ..., hostnames: _Optional[_Iterable[str]] = ...) -> None: ...

class AddIPsResponse(_message.Message):
    __slots__ = ("added", "already_present")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    added: int
    already_present: int
    def __init__(self, added: _Optional[int] = ..., already_present: _Optional[int] = ...) -> None: ...

class ImportHistoryRequest(_message.Message):
    __slots__ = ("volumes",)
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[_types_pb2.DailyVolume]
    def __init__(self, volumes: _Optional[_Iterable[_Union[_types_pb2.DailyVolume, _Mapping]]] = ...) -> None: ...

class ImportHistoryResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    def __init__(self, rows: _Optional[int] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdatePolicyRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: _types_pb2.Policy
    def __init__(self, policy: _Optional[_Union[_types_pb2.Policy, _Mapping]] = ...) -> None: ...

class PauseWarmupRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ResumeWarmupRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class SetAccountModeRequest(_message.Message):
    __slots__ = ("account_id", "mode")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    mode: str
    def __init__(self, account_id: _Optional[str] = ..., mode: _Optional[str] = ...) -> None: ...

class ListIPsRequest(_message.Message):
    __slots__ = ("region", "state", "account_id", "page_size", "page_token")
    REGION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region: str
    state: str
    account_id: str
    page_size: int
    page_token: str
    def __init__(self, region: _Optional[str] = ..., state: _Optional[str] = ..., account_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class InventoryIP(_message.Message):
    __slots__ = ("address", "region", "hostname", "state", "account_id", "pool_id", "since", "quarantine_until", "blocked_reason")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_REASON_FIELD_NUMBER: _ClassVar[int]
    address: str
    region: str
    hostname: str
    state: str
    account_id: str
    pool_id: str
    since: str
    quarantine_until: str
    blocked_reason: str
    def __init__(self, address: _Optional[str] = ..., region: _Optional[str] = ..., hostname: _Optional[str] = ..., state: _Optional[str] = ..., account_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., since: _Optional[str] = ..., quarantine_until: _Optional[str] = ..., blocked_reason: _Optional[str] = ...) -> None: ...

class ListIPsResponse(_message.Message):
    __slots__ = ("ips", "next_page_token")
    IPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ips: _containers.RepeatedCompositeFieldContainer[InventoryIP]
    next_page_token: str
    def __init__(self, ips: _Optional[_Iterable[_Union[InventoryIP, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRegionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Region(_message.Message):
    __slots__ = ("name", "general_ips", "free_ips", "assigned_ips", "draining_ips", "quarantined_ips", "blocked_ips", "accounts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERAL_IPS_FIELD_NUMBER: _ClassVar[int]
    FREE_IPS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_IPS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_IPS_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_IPS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_IPS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    general_ips: int
    free_ips: int
    assigned_ips: int
    draining_ips: int
    quarantined_ips: int
    blocked_ips: int
    accounts: int
    def __init__(self, name: _Optional[str] = ..., general_ips: _Optional[int] = ..., free_ips: _Optional[int] = ..., assigned_ips: _Optional[int] = ..., draining_ips: _Optional[int] = ..., quarantined_ips: _Optional[int] = ..., blocked_ips: _Optional[int] = ..., accounts: _Optional[int] = ...) -> None: ...

class ListRegionsResponse(_message.Message):
    __slots__ = ("regions",)
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    def __init__(self, regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ...) -> None: ...

class RemoveIPsRequest(_message.Message):
    __slots__ = ("addresses",)
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveIPsResponse(_message.Message):
    __slots__ = ("removed", "draining")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    removed: int
    draining: int
    def __init__(self, removed: _Optional[int] = ..., draining: _Optional[int] = ...) -> None: ...

class BlockIPsRequest(_message.Message):
    __slots__ = ("addresses", "reason")
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    addresses: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, addresses: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class BlockIPsResponse(_message.Message):
    __slots__ = ("blocked", "already_blocked")
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    blocked: int
    already_blocked: int
    def __init__(self, blocked: _Optional[int] = ..., already_blocked: _Optional[int] = ...) -> None: ...

class UnblockIPsRequest(_message.Message):
    __slots__ = ("addresses",)
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class UnblockIPsResponse(_message.Message):
    __slots__ = ("unblocked", "not_blocked")
    UNBLOCKED_FIELD_NUMBER: _ClassVar[int]
    NOT_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    unblocked: int
    not_blocked: int
    def __init__(self, unblocked: _Optional[int] = ..., not_blocked: _Optional[int] = ...) -> None: ...

class AssignIPsRequest(_message.Message):
    __slots__ = ("account_id", "addresses")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account_id: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class AssignIPsResponse(_message.Message):
    __slots__ = ("account", "assigned")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    account: _types_pb2.Account
    assigned: int
    def __init__(self, account: _Optional[_Union[_types_pb2.Account, _Mapping]] = ..., assigned: _Optional[int] = ...) -> None: ...

class DeleteAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class DeleteAccountResponse(_message.Message):
    __slots__ = ("account_id", "quarantined_ips")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_IPS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    quarantined_ips: int
    def __init__(self, account_id: _Optional[str] = ..., quarantined_ips: _Optional[int] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("account_id", "since", "kinds", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    since: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., since: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "at", "actor", "kind", "account_id", "addresses", "before", "after", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: str
    actor: str
    kind: str
    account_id: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    before: str
    after: str
    reason: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[str] = ..., actor: _Optional[str] = ..., kind: _Optional[str] = ..., account_id: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., before: _Optional[str] = ..., after: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
