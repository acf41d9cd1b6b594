"""Thunder: the in-memory store of recent posts by author, and the event log that feeds it."""

from components.thunder.event_log import EventLog, PostEvent
from components.thunder.store import ThunderAtCapacity, ThunderLimits, ThunderResult, ThunderStore

__all__ = [
    "EventLog",
    "PostEvent",
    "ThunderAtCapacity",
    "ThunderLimits",
    "ThunderResult",
    "ThunderStore",
]
