"""Errors that reach the user as one clear message and an exit code, never a traceback."""

from __future__ import annotations


class WsmonError(Exception):
    """Base of every error the command line turns into a message and an exit code."""

    exit_code = 1


class UsageError(WsmonError):
    """The command line itself was wrong (exit 2)."""

    exit_code = 2


class ConfigError(WsmonError):
    """One or more problems in a config file (exit 2).

    ``problems`` holds one line per problem, each naming the file and the key path,
    so that every error of a file is reported at once.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(WsmonError):
    """The state database cannot be opened or written (exit 1)."""

    exit_code = 1


class ReadOnlyError(WsmonError):
    """A command refused because the session was started with --read-only (exit 1)."""

    exit_code = 1


class MetricsPortError(WsmonError):
    """``--metrics-port`` could not be served (in use, not allowed): a runtime failure."""

    exit_code = 1
