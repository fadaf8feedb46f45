"""pf's errors: one hierarchy under :class:`PfError`, raised by the device and the library.

Each kernel errno that means something particular to pf has its class (the mapping is
:func:`error_for`, applied once in :mod:`pf_exporter.device`); the library adds the
errors it finds itself before any ioctl (a write on a read-only handle, a bad argument,
a ruleset that does not compile).  Every class is an :class:`OSError` with ``errno`` set,
so ``except OSError`` still catches them; :class:`PfInvalidArgument` is also a
:class:`ValueError`.  ``request`` names the ioctl (or the step) that failed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass


class PfError(OSError):
    """A pf request failed; ``errno`` and ``request`` say which and why."""

    def __init__(self, err: int, request: str, detail: str = "", *, message: str | None = None) -> None:
        if message is None:
            message = f"{request}: {os.strerror(err)}" if err else request
            if detail:
                message += f" ({detail})" if err else f": {detail}"
        super().__init__(err, message)
        self.request = request
        self.detail = detail

    def __str__(self) -> str:
        return self.strerror or ""


class PfPermissionError(PfError):
    """EACCES/EPERM: read-only descriptor, securelevel > 1, or no access to /dev/pf.

    On a read-only descriptor the kernel answers an *unknown* request number with
    EACCES too (pfioctl checks FWRITE first), so an ABI mismatch can look like this;
    the device re-labels that case as :class:`PfAbiMismatch`.
    """


class PfReadOnlyError(PfPermissionError):
    """A change was asked of a handle opened read-only; refused before any ioctl."""


class PfSecurelevelError(PfPermissionError):
    """EPERM on a write: the kernel's securelevel is above 1."""


class PfBusy(PfError):
    """EBUSY: the ruleset changed under a ticket, or too many tickets are open."""


class PfAbiMismatch(PfError):
    """ENODEV/ENOTTY: the kernel does not know this request number (wrong release/arch)."""


class PfNotFound(PfError):
    """ENOENT/ESRCH: no such rule, anchor, table or queue (also 'end of list')."""


class PfExists(PfError):
    """EEXIST: e.g. DIOCSTART while pf is already running."""


class PfInvalid(PfError):
    """EINVAL: the kernel rejected an argument."""


class PfInvalidArgument(PfInvalid, ValueError):
    """An argument the library refused before asking the kernel (a bad address, a name too long)."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(errno.EINVAL, what, detail, message=f"{what}: {detail}")


class PfStaleTicket(PfError):
    """ENXIO: the ticket is not (or no longer) this descriptor's."""


class PfNotPresent(PfError):
    """/dev/pf does not exist or cannot be opened: pf(4) is not available here."""


class PfUnsupported(PfError):
    """This pf (its release, or the simulator) does not have the requested feature."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(errno.EOPNOTSUPP, what, detail, message=detail or f"{what}: not supported")


class PfLimitError(PfError):
    """A request would go past one of pf's limits (e.g. ``set limit anchors``); nothing was changed.

    ``limit`` names it as ``pfctl -sm`` does, ``value`` is the limit and ``needed`` what the
    request would have used."""

    def __init__(self, request: str, limit: str, value: int, needed: int, detail: str) -> None:
        super().__init__(errno.ENOMEM, request, detail, message=detail)
        self.limit = limit
        self.value = value
        self.needed = needed


@dataclass(frozen=True)
class Problem:
    """One message of a ruleset compile, located as pfctl locates it."""

    message: str
    line: int | None = None
    column: int | None = None
    text: str = ""  # the message as pfctl prints it ("stdin:3: syntax error")


class PfLoadError(PfError):
    """A ruleset load was refused and nothing changed: it did not compile (``stage`` "compile",
    ``problems`` say where), or pf refused one of its parts and the transaction was rolled back
    (``stage`` "begin", "table", "rule", "queue", "option" or "commit"; ``cause`` is pf's error and
    ``source`` the part, e.g. "line 4")."""

    def __init__(self, stage: str, detail: str, *, cause: PfError | None = None,
                 problems: Sequence[Problem] = (), source: str = "", line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(cause.errno if cause is not None and cause.errno else errno.EINVAL,
                         f"load ({stage})", detail, message=detail)
        self.stage = stage
        self.cause = cause
        self.problems = tuple(problems)
        self.source = source
        self.line = line if line is not None else (self.problems[0].line if self.problems else None)
        self.column = column if column is not None else (self.problems[0].column if self.problems else None)


_ERRNO_CLASSES: dict[int, type[PfError]] = {
    errno.EACCES: PfPermissionError,
    errno.EPERM: PfPermissionError,
    errno.EBUSY: PfBusy,
    errno.ENODEV: PfAbiMismatch,
    errno.ENOTTY: PfAbiMismatch,
    errno.ENOENT: PfNotFound,
    errno.ESRCH: PfNotFound,
    errno.EEXIST: PfExists,
    errno.EINVAL: PfInvalid,
    errno.ENXIO: PfStaleTicket,
}


def error_for(err: int, request: str, detail: str = "") -> PfError:
    """The :class:`PfError` subclass for kernel errno *err* on *request*."""
    return _ERRNO_CLASSES.get(err, PfError)(err, request, detail)


__all__ = [
    "PfAbiMismatch", "PfBusy", "PfError", "PfExists", "PfInvalid", "PfInvalidArgument", "PfLimitError",
    "PfLoadError", "PfNotFound", "PfNotPresent", "PfPermissionError", "PfReadOnlyError", "PfSecurelevelError",
    "PfStaleTicket", "PfUnsupported", "Problem", "error_for",
]
