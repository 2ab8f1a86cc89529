"""One exception type for every problem a user can fix, so the CLI can print one line instead of a traceback."""


class TextdistillError(Exception):
    """A user-facing error: bad input, missing file, corrupt model directory, unknown label."""


class DataError(TextdistillError, ValueError):
    """A data file that cannot be read as asked (missing file or column, empty file, bad encoding, unseen label)."""


class ModelError(TextdistillError):
    """A model or teacher directory that is missing, incomplete or corrupt."""


class ConfigError(TextdistillError, ValueError):
    """A setting out of its valid range (a batch size of 0, a temperature of 0, ...)."""


class TrainingInterrupted(TextdistillError):
    """Ctrl-C stopped ``distill``: the message says what was saved and how to resume; the CLI exits 130.

    ``student`` holds the best checkpoint so far (None when there was none) and ``report`` the run's report."""

    exit_code = 130

    def __init__(self, message: str, student=None, report=None):
        super().__init__(message)
        self.student, self.report = student, report


class LabellingInterrupted(TextdistillError):
    """Ctrl-C stopped teacher labelling: every finished batch is in the cache; the message says so and how to resume
    (rerun the same command). The CLI exits 130."""

    exit_code = 130


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless condition holds: one-line validation of settings."""
    if not condition:
        raise ConfigError(message)


class ClusterError(TextdistillError):
    """A Ray cluster that cannot be reached, or a distributed job that failed (the message names the cause)."""


class MissingExtraError(TextdistillError):
    """An optional dependency is not installed; the message names the pip extra that provides it."""


def require(module: str, extra: str):
    """Import an optional dependency or fail with a message naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(
            f"'{module}' is not installed; install it with: pip install 'textdistill[{extra}]'"
        ) from exc
