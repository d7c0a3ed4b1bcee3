from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ManagementType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MANAGEMENT_TYPE_UNSPECIFIED: _ClassVar[ManagementType]
    MANAGEMENT_TYPE_GENERAL: _ClassVar[ManagementType]
    MANAGEMENT_TYPE_TRANSITION: _ClassVar[ManagementType]
    MANAGEMENT_TYPE_DEDICATED: _ClassVar[ManagementType]

class PoolType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POOL_TYPE_UNSPECIFIED: _ClassVar[PoolType]
    POOL_TYPE_GENERAL: _ClassVar[PoolType]
    POOL_TYPE_DEDICATED: _ClassVar[PoolType]

class IpStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IP_STATUS_UNSPECIFIED: _ClassVar[IpStatus]
    IP_STATUS_IN_PROGRESS: _ClassVar[IpStatus]
    IP_STATUS_ACTIVE: _ClassVar[IpStatus]
    IP_STATUS_DRAINING: _ClassVar[IpStatus]

class IpPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IP_PURPOSE_UNSPECIFIED: _ClassVar[IpPurpose]
    IP_PURPOSE_GENERAL_POOL: _ClassVar[IpPurpose]
    IP_PURPOSE_INVENTORY: _ClassVar[IpPurpose]
MANAGEMENT_TYPE_UNSPECIFIED: ManagementType
MANAGEMENT_TYPE_GENERAL: ManagementType
MANAGEMENT_TYPE_TRANSITION: ManagementType
MANAGEMENT_TYPE_DEDICATED: ManagementType
POOL_TYPE_UNSPECIFIED: PoolType
POOL_TYPE_GENERAL: PoolType
POOL_TYPE_DEDICATED: PoolType
IP_STATUS_UNSPECIFIED: IpStatus
IP_STATUS_IN_PROGRESS: IpStatus
IP_STATUS_ACTIVE: IpStatus
IP_STATUS_DRAINING: IpStatus
IP_PURPOSE_UNSPECIFIED: IpPurpose
IP_PURPOSE_GENERAL_POOL: IpPurpose
IP_PURPOSE_INVENTORY: IpPurpose

class SendingIP(_message.Message):
    __slots__ = ("address", "region", "pool_id", "pool_type", "status", "warmup_percent", "traffic_share_percent", "daily_limit", "sent_today", "assigned_on")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DAILY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SENT_TODAY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_ON_FIELD_NUMBER: _ClassVar[int]
    address: str
    region: str
    pool_id: str
    pool_type: PoolType
    status: IpStatus
    warmup_percent: float
    traffic_share_percent: float
    daily_limit: int
    sent_today: int
    assigned_on: str
    def __init__(self, address: _Optional[str] = ..., region: _Optional[str] = ..., pool_id: _Optional[str] = ..., pool_type: _Optional[_Union[PoolType, str]] = ..., status: _Optional[_Union[IpStatus, str]] = ..., warmup_percent: _Optional[float] = ..., traffic_share_percent: _Optional[float] = ..., daily_limit: _Optional[int] = ..., sent_today: _Optional[int] = ..., assigned_on: _Optional[str] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "region", "management_type", "transition_started_on", "transition_progress_percent", "dedicated_share_percent", "volume_30d", "peak_daily_volume_30d", "active_days_30d", "required_ips", "dedicated_ip_count", "warmup_paused", "reason", "mode", "dedicated_on")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_STARTED_ON_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DEDICATED_SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    VOLUME_30D_FIELD_NUMBER: _ClassVar[int]
    PEAK_DAILY_VOLUME_30D_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_DAYS_30D_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_IPS_FIELD_NUMBER: _ClassVar[int]
    DEDICATED_IP_COUNT_FIELD_NUMBER: _ClassVar[int]
    WARMUP_PAUSED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DEDICATED_ON_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    region: str
    management_type: ManagementType
    transition_started_on: str
    transition_progress_percent: float
    dedicated_share_percent: float
    volume_30d: int
    peak_daily_volume_30d: int
    active_days_30d: int
    required_ips: int
    dedicated_ip_count: int
    warmup_paused: bool
    reason: str
    mode: str
    dedicated_on: str
    def __init__(self, account_id: _Optional[str] = ..., region: _Optional[str] = ..., management_type: _Optional[_Union[ManagementType, str]] = ..., transition_started_on: _Optional[str] = ..., transition_progress_percent: _Optional[float] = ..., dedicated_share_percent: _Optional[float] = ..., volume_30d: _Optional[int] = ..., peak_daily_volume_30d: _Optional[int] = ..., active_days_30d: _Optional[int] = ..., required_ips: _Optional[int] = ..., dedicated_ip_count: _Optional[int] = ..., warmup_paused: _Optional[bool] = ..., reason: _Optional[str] = ..., mode: _Optional[str] = ..., dedicated_on: _Optional[str] = ...) -> None: ...

class DailyVolume(_message.Message):
    __slots__ = ("account_id", "day", "mailbox_provider", "ip", "count")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    day: str
    mailbox_provider: str
    ip: str
    count: int
    def __init__(self, account_id: _Optional[str] = ..., day: _Optional[str] = ..., mailbox_provider: _Optional[str] = ..., ip: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("account_id", "ip", "mailbox_provider", "day", "delivered", "deferred", "bounced", "complained", "throttled")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    BOUNCED_FIELD_NUMBER: _ClassVar[int]
    COMPLAINED_FIELD_NUMBER: _ClassVar[int]
    THROTTLED_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    ip: str
    mailbox_provider: str
    day: str
    delivered: int
    deferred: int
    bounced: int
    complained: int
    throttled: int
    def __init__(self, account_id: _Optional[str] = ..., ip: _Optional[str] = ..., mailbox_provider: _Optional[str] = ..., day: _Optional[str] = ..., delivered: _Optional[int] = ..., deferred: _Optional[int] = ..., bounced: _Optional[int] = ..., complained: _Optional[int] = ..., throttled: _Optional[int] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("history_window_days", "dedicated_threshold_30d", "general_threshold_30d", "min_active_days", "ip_daily_capacity", "max_ips_per_account", "warmup_schedule", "scale_in_days", "quarantine_days", "hold_bounce_percent", "hold_complaint_percent", "hold_deferral_percent", "step_back_bounce_percent", "step_back_complaint_percent", "updated_by", "updated_at", "drain_days", "expected_volume_days", "mailbox_providers", "advance_fraction", "warmup_rules", "hourly_burst", "same_day_min_outcomes", "throttle_pause_minutes", "provider_schedules", "account_overrides", "audit_retention_days")
    HISTORY_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    DEDICATED_THRESHOLD_30D_FIELD_NUMBER: _ClassVar[int]
    GENERAL_THRESHOLD_30D_FIELD_NUMBER: _ClassVar[int]
    MIN_ACTIVE_DAYS_FIELD_NUMBER: _ClassVar[int]
    IP_DAILY_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    MAX_IPS_PER_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    WARMUP_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SCALE_IN_DAYS_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_DAYS_FIELD_NUMBER: _ClassVar[int]
    HOLD_BOUNCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HOLD_COMPLAINT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HOLD_DEFERRAL_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STEP_BACK_BOUNCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STEP_BACK_COMPLAINT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DRAIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VOLUME_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ADVANCE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RULES_FIELD_NUMBER: _ClassVar[int]
    HOURLY_BURST_FIELD_NUMBER: _ClassVar[int]
    SAME_DAY_MIN_OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_PAUSE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    AUDIT_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    history_window_days: int
    dedicated_threshold_30d: int
    general_threshold_30d: int
    min_active_days: int
    ip_daily_capacity: int
    max_ips_per_account: int
    warmup_schedule: _containers.RepeatedScalarFieldContainer[int]
    scale_in_days: int
    quarantine_days: int
    hold_bounce_percent: float
    hold_complaint_percent: float
    hold_deferral_percent: float
    step_back_bounce_percent: float
    step_back_complaint_percent: float
    updated_by: str
    updated_at: str
    drain_days: int
    expected_volume_days: int
    mailbox_providers: _containers.RepeatedScalarFieldContainer[str]
    advance_fraction: float
    warmup_rules: str
    hourly_burst: float
    same_day_min_outcomes: int
    throttle_pause_minutes: int
    provider_schedules: _containers.RepeatedCompositeFieldContainer[ProviderSchedule]
    account_overrides: _containers.RepeatedCompositeFieldContainer[AccountOverride]
    audit_retention_days: int
    def __init__(self, history_window_days: _Optional[int] = ..., dedicated_threshold_30d: _Optional[int] = ..., general_threshold_30d: _Optional[int] = ..., min_active_days: _Optional[int] = ..., ip_daily_capacity: _Optional[int] = ..., max_ips_per_account: _Optional[int] = ..., warmup_schedule: _Optional[_Iterable[int]] = ..., scale_in_days: _Optional[int] = ..., quarantine_days: _Optional[int] = ..., hold_bounce_percent: _Optional[float] = ..., hold_complaint_percent: _Optional[float] = ..., hold_deferral_percent: _Optional[float] = ..., step_back_bounce_percent: _Optional[float] = ..., step_back_complaint_percent: _Optional[float] = ..., updated_by: _Optional[str] = ..., updated_at: _Optional[str] = ..., drain_days: _Optional[int] = ..., expected_volume_days: _Optional[int] = ..., mailbox_providers: _Optional[_Iterable[str]] = ..., advance_fraction: _Optional[float] = ..., warmup_rules: _Optional[str] = ..., hourly_burst: _Optional[float] = ..., same_day_min_outcomes: _Optional[int] = ..., throttle_pause_minutes: _Optional[int] = ..., provider_schedules: _Optional[_Iterable[_Union[ProviderSchedule, _Mapping]]] = ..., account_overrides: _Optional[_Iterable[_Union[AccountOverride, _Mapping]]] = ..., audit_retention_days: _Optional[int] = ...) -> None: ...

class AccountOverride(_message.Message):
    __slots__ = ("account_id", "dedicated_threshold_30d", "max_ips_per_account")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DEDICATED_THRESHOLD_30D_FIELD_NUMBER: _ClassVar[int]
    MAX_IPS_PER_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    dedicated_threshold_30d: int
    max_ips_per_account: int
    def __init__(self, account_id: _Optional[str] = ..., dedicated_threshold_30d: _Optional[int] = ..., max_ips_per_account: _Optional[int] = ...) -> None: ...

class ProviderSchedule(_message.Message):
    __slots__ = ("provider", "limits")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    limits: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, provider: _Optional[str] = ..., limits: _Optional[_Iterable[int]] = ...) -> None: ...
