"""The base of every error a user can act on: shown as one line, never as a traceback."""


class UserFacingError(Exception):
    """An error whose message alone tells the user what is wrong and where (a setting, a file, a port)."""
