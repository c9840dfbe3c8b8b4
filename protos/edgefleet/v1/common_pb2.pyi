from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    EDGE: _ClassVar[Tier]
    HOSTED: _ClassVar[Tier]
TIER_UNSPECIFIED: Tier
EDGE: Tier
HOSTED: Tier

class ServedBy(_message.Message):
    __slots__ = ("model", "version", "replica", "node", "device", "tier", "stand_in")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    STAND_IN_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    replica: str
    node: str
    device: str
    tier: Tier
    stand_in: bool
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., replica: _Optional[str] = ..., node: _Optional[str] = ..., device: _Optional[str] = ..., tier: _Optional[_Union[Tier, str]] = ..., stand_in: bool = ...) -> None: ...

class TraceStep(_message.Message):
    __slots__ = ("target", "outcome", "reason", "ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MS_FIELD_NUMBER: _ClassVar[int]
    target: str
    outcome: str
    reason: str
    ms: float
    def __init__(self, target: _Optional[str] = ..., outcome: _Optional[str] = ..., reason: _Optional[str] = ..., ms: _Optional[float] = ...) -> None: ...
