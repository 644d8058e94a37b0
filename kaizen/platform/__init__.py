"""``kaizen up``: the broker, the services and Prefect as one supervised platform."""

from kaizen.platform.process import PartSpec
from kaizen.platform.supervisor import PartState, PartStatus, Platform, PlatformError

__all__ = ["PartSpec", "PartState", "PartStatus", "Platform", "PlatformError"]
