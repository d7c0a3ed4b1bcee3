from sendingip.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SelectSendingIPRequest(_message.Message):
    __slots__ = ("account_id", "message_id", "recipient_domain", "mailbox_provider", "region", "retry")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    message_id: str
    recipient_domain: str
    mailbox_provider: str
    region: str
    retry: bool
    def __init__(self, account_id: _Optional[str] = ..., message_id: _Optional[str] = ..., recipient_domain: _Optional[str] = ..., mailbox_provider: _Optional[str] = ..., region: _Optional[str] = ..., retry: _Optional[bool] = ...) -> None: ...

class SelectSendingIPResponse(_message.Message):
    __slots__ = ("ip", "pool_id", "pool_type", "management_type", "mailbox_provider", "routing_version", "overflow")
    IP_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_TYPE_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ROUTING_VERSION_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    ip: str
    pool_id: str
    pool_type: _types_pb2.PoolType
    management_type: _types_pb2.ManagementType
    mailbox_provider: str
    routing_version: int
    overflow: bool
    def __init__(self, ip: _Optional[str] = ..., pool_id: _Optional[str] = ..., pool_type: _Optional[_Union[_types_pb2.PoolType, str]] = ..., management_type: _Optional[_Union[_types_pb2.ManagementType, str]] = ..., mailbox_provider: _Optional[str] = ..., routing_version: _Optional[int] = ..., overflow: _Optional[bool] = ...) -> None: ...

class SelectSendingIPBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SelectSendingIPRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[SelectSendingIPRequest, _Mapping]]] = ...) -> None: ...

class SelectSendingIPBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[SelectSendingIPResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[SelectSendingIPResponse, _Mapping]]] = ...) -> None: ...

class ReportOutcomesRequest(_message.Message):
    __slots__ = ("outcomes", "report_id")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Outcome]
    report_id: str
    def __init__(self, outcomes: _Optional[_Iterable[_Union[_types_pb2.Outcome, _Mapping]]] = ..., report_id: _Optional[str] = ...) -> None: ...

class ReportOutcomesResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...
