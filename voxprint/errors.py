"""Errors that the CLI reports as one clear line (no traceback)."""


class VoxprintError(Exception):
    """Base class: the message is shown to the user as it is."""


class ConfigError(VoxprintError):
    pass


class AudioError(VoxprintError):
    """A file that cannot be used as audio; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DataError(VoxprintError):
    pass


class NothingAnswered(VoxprintError):
    """Every input file of a command was skipped (each named on its own skip line), so there is no
    answer at all; the CLI exits with the "files skipped" status, not the usage/data-error one."""
