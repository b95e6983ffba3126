"""The error raised when arrays or artifacts do not follow a format."""

from platform_core.errors import UserFacingError


class ArtifactFormatError(UserFacingError, ValueError):
    """Arrays handed to a writer, or an artifact handed to a reader, break the format; the message says how."""
