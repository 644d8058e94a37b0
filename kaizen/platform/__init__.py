"""``kaizen up``: the broker, the services and Prefect as one supervised platform."""

from kaizen.platform.process import PartSpec
from kaizen.platform.state import PartState, PartStatus, PlatformError
from kaizen.platform.supervisor import Platform

__all__ = ["PartSpec", "PartState", "PartStatus", "Platform", "PlatformError"]
