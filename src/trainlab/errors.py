"""The one exception family users can cause; the CLI prints its message in one line, exit 2."""

from __future__ import annotations

import traceback


def one_line(exc: BaseException) -> str:
    """The last line of an exception's message (its type and text)."""
    return "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]


class TrainlabError(Exception):
    """A problem with the user's input: a config field, a file, a run id. Message says what's allowed."""


class ConfigError(TrainlabError):
    """An invalid experiment config, override or search space."""


class DataError(TrainlabError):
    """A dataset that is unknown, missing or malformed."""


class StoreError(TrainlabError):
    """A run, study or store path that does not exist or cannot be used."""


class MissingExtraError(TrainlabError):
    """An optional integration whose extra is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed; install it with `pip install 'trainlab[{extra}]'`"
        )
