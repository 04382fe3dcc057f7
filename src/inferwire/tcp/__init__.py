"""TCP: connections from packet columns, and each direction's payload reassembled by stream offset."""
from .connections import Connection, Endpoint, build_connections, format_address
from .stream import DirectionStream, Gap

__all__ = ["Connection", "Endpoint", "build_connections", "format_address", "DirectionStream", "Gap"]
