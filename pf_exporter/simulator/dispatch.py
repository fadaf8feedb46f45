"""pfioctl() for the simulator: permission checks, then the request's handler (``ioctl_*.py``).

:func:`dispatch` does what ``sys_ioctl()`` and ``pfioctl()`` do before a request's
case runs: copy the argument in (only the size the request number encodes), refuse
by securelevel and by the descriptor's FWRITE flag, pick the handler.  The handler
works on the kernel's copy; it is copied back only when it succeeds, because the
kernel copies nothing out when an ioctl fails.  Each handler's docstring names the
kernel code it mirrors (net/pf_ioctl.c unless said otherwise).

Buffer pointers inside the argument structs are real addresses in this process
(``ctypes.addressof`` of the caller's buffer); handlers read and write them with
``ctypes.memmove``, as the kernel does with copyin/copyout.
"""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING

from ..abi import READ_ONLY_IF_DUMMY, READ_ONLY_REQUESTS, array
from ..abi import constants as C
from ..abi.ioctls import IOC_IN, IOC_OUT, IOCPARM_MASK
from . import ioctl_rules, ioctl_states, ioctl_status, ioctl_tables, osfp, srcnodes
from .handlers import HANDLERS, fail
from .wire import SimulatorUnsupported

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport

# each registers its handlers on import
_MODULES = (ioctl_status, ioctl_tables, ioctl_rules, ioctl_states, srcnodes, osfp)

# pfioctl(): the requests allowed at securelevel > 1 (the first switch).
SECURELEVEL_OK = frozenset({
    "DIOCGETRULES", "DIOCGETRULE", "DIOCGETSTATE", "DIOCSETSTATUSIF", "DIOCGETSTATUS", "DIOCCLRSTATUS",
    "DIOCNATLOOK", "DIOCSETDEBUG", "DIOCGETSTATES", "DIOCGETTIMEOUT", "DIOCGETLIMIT", "DIOCGETSTATELIM",
    "DIOCGETNSTATELIM", "DIOCGETSOURCELIM", "DIOCGETNSOURCELIM", "DIOCGETSOURCE", "DIOCGETNSOURCE",
    "DIOCGETRULESETS", "DIOCGETRULESET", "DIOCGETQUEUES", "DIOCGETQUEUE", "DIOCGETQSTATS", "DIOCRGETTABLES",
    "DIOCRGETTSTATS", "DIOCRCLRTSTATS", "DIOCRCLRADDRS", "DIOCRADDADDRS", "DIOCRDELADDRS", "DIOCRSETADDRS",
    "DIOCRGETADDRS", "DIOCRGETASTATS", "DIOCRCLRASTATS", "DIOCRTSTADDRS", "DIOCOSFPGET", "DIOCGETSRCNODES",
    "DIOCCLRSRCNODES", "DIOCIGETIFACES", "DIOCSETIFFLAG", "DIOCCLRIFFLAG", "DIOCGETSYNFLWATS",
})
SECURELEVEL_DUMMY = frozenset({"DIOCRCLRTABLES", "DIOCRADDTABLES", "DIOCRDELTABLES", "DIOCRSETTFLAGS"})
# pfioctl(): the requests a descriptor opened without FWRITE may issue (the second switch; the ABI
# layer's list, DIOCGETRULE checked on its own), and those it may issue only as a dry run.
READONLY_OK = READ_ONLY_REQUESTS - {"DIOCGETRULE"}
READONLY_DUMMY = READ_ONLY_IF_DUMMY
# Requests whose argument carries a pointer to a further user buffer.
POINTER_ARGS = frozenset({"pfioc_table", "pfioc_iface", "pfioc_states", "pfioc_src_nodes", "pfioc_qstats",
                          "pfioc_trans", "pfioc_source"})


def _arg_address(arg: object) -> tuple[int, int]:
    """Where the caller's argument lives and how many bytes it has."""
    if isinstance(arg, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array):
        return ctypes.addressof(arg), ctypes.sizeof(arg)
    if isinstance(arg, bytearray | memoryview):
        view = memoryview(arg)
        if view.readonly:
            raise TypeError("ioctl argument buffer must be writable")
        if not view.nbytes:
            return 0, 0
        return ctypes.addressof(ctypes.c_char.from_buffer(view)), view.nbytes  # no array type per length
    raise TypeError(f"ioctl argument must be a ctypes object or a writable buffer, not {type(arg).__name__}")


def dispatch(sim: Simulator, fd: SimTransport, number: int, arg: object) -> None:  # noqa: C901 - mirrors sys_ioctl() + pfioctl()'s checks in their order
    """sys_ioctl() + pfioctl(): copy in, check, handle, copy out on success."""
    req = sim.abi.by_number(number)
    name = req.name if req is not None else f"ioctl {number:#x}"
    size = (number >> 16) & IOCPARM_MASK
    kbuf = None
    addr = 0
    if number & (IOC_IN | IOC_OUT) and size:
        if arg is None:
            fail(errno.EFAULT)
        addr, avail = _arg_address(arg)
        if avail < size:
            fail(errno.EFAULT)
        kbuf = array(ctypes.c_char, size)
        ctypes.memmove(kbuf, addr, size)
    k = None
    if req is not None and kbuf is not None:
        argtype = sim.abi.arg_type(req)
        k = argtype.from_buffer(kbuf) if argtype is not None else None

    def table_dummy() -> bool:
        return k is not None and bool(k.pfrio_flags & C.PFR_FLAG_DUMMY)

    # pfioctl(): securelevel first, then the descriptor's FWRITE flag
    if sim.securelevel > 1 and name not in SECURELEVEL_OK:
        if not (name in SECURELEVEL_DUMMY and table_dummy()):
            fail(errno.EPERM)
    if not fd.writable and name not in READONLY_OK:
        if name in READONLY_DUMMY:
            if not table_dummy():
                fail(errno.EACCES)
        elif name == "DIOCGETRULE":
            if k.action == C.PF_GET_CLR_CNTR:  # type: ignore[union-attr]  # DIOCGETRULE always has its argument
                fail(errno.EACCES)
        else:
            fail(errno.EACCES)
    if req is None:
        fail(errno.ENODEV)
    assert req is not None
    handler = HANDLERS.get(name)
    if handler is None:
        raise _unsupported(f"the pf simulator does not implement {name}")
    if req.arg in POINTER_ARGS and not sim.abi.native:
        raise _unsupported(
            f"{name} passes a buffer pointer, which the simulator can only follow for this host's "
            f"word size; simulate arch amd64 or arm64 instead of {sim.abi.arch}"
        )
    sim._check_faults(name)
    sim._current = name
    handler(sim, fd, k)
    if kbuf is not None and number & IOC_OUT:
        ctypes.memmove(addr, kbuf, size)


def _unsupported(msg: str) -> Exception:
    return SimulatorUnsupported(msg)
