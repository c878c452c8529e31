"""vsmesh: an event-sourced mesh of organisational hubs on NATS JetStream."""

from vsmesh.errors import VsmeshError
from vsmesh.settings import Settings

__version__ = "0.1.0"
__all__ = ["Settings", "VsmeshError", "__version__"]
