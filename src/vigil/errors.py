"""The one exception hierarchy of Vigil.

Every error a user can cause derives from :class:`VigilError`. Each carries a message that says what happened
and a ``hint`` that says what to do next; the CLI maps the class to an exit code in one place
(:mod:`vigil.cli.main`) and prints one line, with a traceback only under ``--debug``.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(VigilError):
    """The command was called with arguments that cannot work (bad path, bad ref syntax, bad flag mix)."""

    exit_code = 2


class NotFoundError(VigilError):
    """A repo, branch, commit, path, pipeline or job named by the user does not exist."""

    exit_code = 3


class AlreadyExistsError(VigilError):
    """Creating something whose name is taken."""

    exit_code = 4


class AmbiguousRefError(UsageError):
    """A commit-id prefix matches more than one commit."""


class ConflictError(VigilError):
    """The operation conflicts with the current state (repo in use by a pipeline, concurrent update)."""

    exit_code = 5


class WorkspaceError(VigilError):
    """No workspace found, or its configuration is invalid."""

    exit_code = 6


class IntegrityError(VigilError):
    """Stored data failed a check (hash mismatch, dangling reference)."""

    exit_code = 7


class StoreError(VigilError):
    """A storage backend failed (disk, database, S3)."""

    exit_code = 8


class SpecError(UsageError):
    """A pipeline spec, rule set or config file is invalid; the message names the file and the key."""


class PipelineError(VigilError):
    """A job could not run or finished in a failed state."""

    exit_code = 9


class ModelError(VigilError):
    """A detection model is missing, corrupt, or could not be loaded."""

    exit_code = 10


class AuthenticationError(VigilError):
    """An API request without a valid token (missing, malformed, unknown or revoked)."""

    exit_code = 16


class PayloadTooLargeError(UsageError):
    """An upload is larger than the server accepts."""

    exit_code = 17


class UnsupportedMediaError(UsageError):
    """Uploaded bytes are not of a kind the endpoint takes (a frame that is not JPEG or PNG)."""

    exit_code = 18


class ForbiddenError(VigilError):
    """The API token's role does not allow this action (a viewer pushing frames, an operator creating tokens)."""

    exit_code = 19
