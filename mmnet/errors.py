"""The project's own errors, under one base: the command line tells a user's mistake (`MmnetError`: named in
one line, exit code 1) from a bug (any other exception: its traceback)."""
from __future__ import annotations


class MmnetError(Exception):
    """A problem with what mmnet was given (a file, a folder, a model, a setting), worded for the user."""


class ConfigError(MmnetError, ValueError):
    """A setting that cannot work: a value out of its range, or options that do not go together."""


class WeightsError(MmnetError, ValueError):
    """A model that cannot be found or used (a name, a file, the manifest); the message names which."""
