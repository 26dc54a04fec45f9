"""The one exception hierarchy of Vigil.

Every error a user can cause derives from :class:`VigilError`. Each carries a message that says what happened
and a ``hint`` that says what to do next; the CLI maps the class to an exit code in one place
(:mod:`vigil.cli.main`) and prints one line, with a traceback only under ``--debug``.
"""

from __future__ import annotations

import errno
import logging
import os
import re


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        # Messages quote URLs, DSNs and command lines: secrets never leave in one (printed, logged or raised).
        message, hint = redact(message), (redact(hint) if hint else hint)
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

    def __init__(self, message: str, hint: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.problems = [redact(p) for p in problems] if problems else [self.message]


class PipelineError(VigilError):
    """A job could not run or finished in a failed state."""

    exit_code = 9


class ModelError(VigilError):
    """A detection model is missing, corrupt, or could not be loaded."""

    exit_code = 10


class DiskFullError(StoreError):
    """The disk (or quota) holding the workspace or an output file is full (ENOSPC, EDQUOT)."""

    exit_code = 11


class NameTooLongError(UsageError):
    """A path given by the user is longer than the filesystem allows (ENAMETOOLONG)."""

    exit_code = 12


class PermissionDeniedError(VigilError):
    """The operating system refused access to a file or folder (EACCES, EPERM, EROFS)."""

    exit_code = 13


class DatabaseUnavailableError(StoreError):
    """The metadata database cannot be reached (server down, refused, wrong host or credentials)."""

    exit_code = 14


class ConfigError(VigilError):
    """An environment variable or configuration value is invalid (checked when a command starts)."""

    exit_code = 15


# ---------------------------------------------------------------------------------------------- secrets
# userinfo of a URL (scheme://user:password@host), key=value secrets in DSNs and query strings, bearer tokens
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?=@)")
_KEY_VALUE = re.compile(r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
                        r"secret[_-]?access[_-]?key|aws_secret_access_key)\s*[=:]\s*['\"]?)(?P<secret>[^\s'\"&,;)]+)",
                        re.IGNORECASE)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})")
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with secrets replaced by ``***``: passwords in URLs (``postgresql://u:***@host/db``),
    ``password=``/``token=``/``api_key=`` values, and bearer tokens. Idempotent."""
    for pattern in (_URL_PASSWORD, _KEY_VALUE, _BEARER):
        text = pattern.sub(lambda m: m.group("head") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from every record's formatted message (install it on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


# -------------------------------------------------------------------------------- environment failures
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def environment_error(exc: BaseException) -> VigilError | None:
    """The user-facing error for a failure of the environment found in ``exc`` or its causes (disk full, name
    too long, permission denied, database unreachable), else None. A :class:`VigilError` caused by such a
    failure keeps its message and gets the specific class, exit code and hint."""
    outer = exc if isinstance(exc, VigilError) else None
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        found = _from_os_error(cause, outer) if isinstance(cause, OSError) else _from_database_error(cause, outer)
        if found is not None:
            return found
        cause = cause.__cause__ or cause.__context__
    return None


def _from_os_error(exc: OSError, outer: VigilError | None) -> VigilError | None:
    where = f" ({exc.filename})" if exc.filename else ""
    what = outer.message if outer is not None else None
    if exc.errno in _DISK_FULL:
        return DiskFullError(what or f"no space left on the device{where}: {exc.strerror}",
                             "free space on that disk (or raise the quota), then retry: nothing was committed")
    if exc.errno == errno.ENAMETOOLONG:
        name = str(exc.filename or "")
        shown = name if len(name) <= 80 else f"{name[:40]}...{name[-20:]} ({len(os.fsencode(name))} bytes)"
        return NameTooLongError(what or f"file name too long: {shown}",
                                "use names of at most 255 bytes per path segment (4096 bytes in all)")
    if exc.errno in _DENIED:
        return PermissionDeniedError(what or f"permission denied{where}: {exc.strerror}",
                                     "check the owner and mode of that file or folder (or run as its owner)")
    return None


def _from_database_error(exc: BaseException, outer: VigilError | None) -> VigilError | None:
    """SQLAlchemy/psycopg connection failures (recognised by class, without importing them)."""
    kind = type(exc)
    module = kind.__module__ or ""
    if not (module.startswith(("sqlalchemy", "psycopg", "sqlite3")) and
            kind.__name__ in {"OperationalError", "InterfaceError"}):
        return None
    text = str(exc).lower()
    if not any(s in text for s in ("connection", "connect", "server closed", "could not translate host",
                                   "password authentication", "unable to open database")):
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else kind.__name__
    return DatabaseUnavailableError(
        outer.message if outer is not None else f"metadata database unreachable: {first}",
        "check that the database server is up and the `metadata` URL in .vigil/vigil.yaml (host, port, "
        "user, password) is right, then retry")


class ChannelError(VigilError):
    """An alert channel is misconfigured or unreachable (missing secret, refused login, bad URL)."""

    exit_code = 16


class AuthenticationError(VigilError):
    """An API request without a valid token (missing, malformed, unknown or revoked)."""

    exit_code = 17


class PayloadTooLargeError(UsageError):
    """An upload is larger than the server accepts."""

    exit_code = 18


class UnsupportedMediaError(UsageError):
    """Uploaded bytes are not of a kind the endpoint takes (a frame that is not JPEG or PNG)."""

    exit_code = 19


class ForbiddenError(VigilError):
    """The API token's role does not allow this action (a viewer pushing frames, an operator creating tokens)."""

    exit_code = 20


class CorruptBlobError(IntegrityError):
    """A stored blob's bytes do not match its sha256 (bit rot, truncation) or it is gone, found when read."""

    exit_code = 21
    HINT = ("run `vigil fsck --repair` (it lists every repo/path/commit that uses the blob and removes the bad "
            "copy), then put the original file again, or restore the blob from a replica")

    def __init__(self, oid: str, detail: str, *, repo: str | None = None, path: str | None = None,
                 commit: str | None = None) -> None:
        self.oid, self.detail = oid, detail
        self.repo, self.path, self.commit = repo, path, commit
        where = ""
        if path is not None:
            where = f" of {repo}:{path}" if repo else f" of {path}"
            where += f" at commit {commit}" if commit else ""
        super().__init__(f"blob {oid}{where} is damaged: {detail}; its bytes were not used", self.HINT)

    def within(self, repo: str | None, path: str, commit: str | None) -> CorruptBlobError:
        """The same damage, named by the file that references the blob (the store layer knows only the id)."""
        return CorruptBlobError(self.oid, self.detail, repo=repo, path=path, commit=commit)


class AuditChainError(IntegrityError):
    """The audit log's hash chain is broken: an entry was edited, deleted or reordered (`vigil audit verify`)."""

    exit_code = 22


class NotReproducedError(VigilError):
    """Re-running a result gave other bytes, or its inputs are gone (`vigil reproduce` names what differs)."""

    exit_code = 23
