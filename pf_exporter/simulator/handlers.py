"""The simulator's pfioctl() cases: the registry each ``ioctl_*`` module adds its handlers to
(:func:`handles`), and what the handlers share for the caller's buffers (copyin and copyout)."""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..abi import array, array_type
from .ktable import Addr, TableRequest
from .wire import KernelError, cstr, field_bytes

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport

Handler = Callable[["Simulator", "SimTransport", Any], None]  # the argument: the request's struct or scalar
HANDLERS: dict[str, Handler] = {}


def fail(err: int) -> None:
    raise KernelError(err)


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


def user_array(sim: Simulator, tag: str, address: int | None, n: int) -> Any:
    """copyin() view of *n* structs *tag* at a user address (EFAULT for NULL)."""
    if n <= 0:
        return array(getattr(sim.layout, tag), 0)
    if not address:
        fail(errno.EFAULT)
    return array_type(getattr(sim.layout, tag), n).from_address(address)


def copyout(address: int | None, data: Any, size: int) -> None:
    """copyout(): *size* bytes of *data* (bytes, a bytearray or a ctypes object) to a user address."""
    if size <= 0:
        return
    if not address:
        fail(errno.EFAULT)
        return
    if isinstance(data, bytearray) and data:  # its address through one c_char: no array type per length
        data = ctypes.c_char.from_buffer(data)
    if isinstance(data, ctypes.Structure | ctypes.Array | ctypes.c_char):
        ctypes.memmove(address, ctypes.addressof(data), size)
    else:
        ctypes.memmove(address, data, size)


def table_req(t: ctypes.Structure) -> TableRequest:
    return TableRequest(field_bytes(t, "pfrt_name"), field_bytes(t, "pfrt_anchor"), t.pfrt_flags)


def addr_req(a: ctypes.Structure) -> Addr:
    return Addr(a.pfra_af, bytes(a.pfra_u), a.pfra_net, a.pfra_not, a.pfra_fback, a.pfra_type,
                cstr(field_bytes(a, "pfra_ifname")), a.pfra_weight)


def anchor_arg(raw: bytes) -> str:
    """A path argument with its last byte forced to NUL, as pfioctl does."""
    return cstr(raw[:-1])
