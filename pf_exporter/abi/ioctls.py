"""The pf(4) ioctl requests: direction, number and argument type (net/pfvar.h).

Request numbers are computed as ``sys/ioccom.h`` does: the argument's size is encoded
in bits 16..28, so the numbers differ between releases and architectures whenever
the argument struct does.
"""

from __future__ import annotations

IOC_VOID = 0x20000000
IOC_OUT = 0x40000000
IOC_IN = 0x80000000
IOC_INOUT = IOC_IN | IOC_OUT
IOCPARM_MASK = 0x1FFF
_DIRS = {"_IO": IOC_VOID, "_IOW": IOC_IN, "_IOR": IOC_OUT, "_IOWR": IOC_INOUT}

# name: (direction, number, argument: a struct tag, a scalar C type, or None)
REQUESTS: dict[str, tuple[str, int, str | None]] = {
    "DIOCSTART": ("_IO", 1, None),
    "DIOCSTOP": ("_IO", 2, None),
    "DIOCADDRULE": ("_IOWR", 4, "pfioc_rule"),
    "DIOCGETRULES": ("_IOWR", 6, "pfioc_rule"),
    "DIOCGETRULE": ("_IOWR", 7, "pfioc_rule"),
    "DIOCCLRSTATES": ("_IOWR", 18, "pfioc_state_kill"),
    "DIOCGETSTATE": ("_IOWR", 19, "pfioc_state"),
    "DIOCSETSTATUSIF": ("_IOWR", 20, "pfioc_iface"),
    "DIOCGETSTATUS": ("_IOWR", 21, "pf_status"),
    "DIOCCLRSTATUS": ("_IOWR", 22, "pfioc_iface"),
    "DIOCNATLOOK": ("_IOWR", 23, "pfioc_natlook"),
    "DIOCSETDEBUG": ("_IOWR", 24, "u_int32_t"),
    "DIOCGETSTATES": ("_IOWR", 25, "pfioc_states"),
    "DIOCCHANGERULE": ("_IOWR", 26, "pfioc_rule"),
    "DIOCSETTIMEOUT": ("_IOWR", 29, "pfioc_tm"),
    "DIOCGETTIMEOUT": ("_IOWR", 30, "pfioc_tm"),
    "DIOCADDSTATE": ("_IOWR", 37, "pfioc_state"),
    "DIOCGETLIMIT": ("_IOWR", 39, "pfioc_limit"),
    "DIOCSETLIMIT": ("_IOWR", 40, "pfioc_limit"),
    "DIOCKILLSTATES": ("_IOWR", 41, "pfioc_state_kill"),
    "DIOCGETRULESETS": ("_IOWR", 58, "pfioc_ruleset"),
    "DIOCGETRULESET": ("_IOWR", 59, "pfioc_ruleset"),
    "DIOCRCLRTABLES": ("_IOWR", 60, "pfioc_table"),
    "DIOCRADDTABLES": ("_IOWR", 61, "pfioc_table"),
    "DIOCRDELTABLES": ("_IOWR", 62, "pfioc_table"),
    "DIOCRGETTABLES": ("_IOWR", 63, "pfioc_table"),
    "DIOCRGETTSTATS": ("_IOWR", 64, "pfioc_table"),
    "DIOCRCLRTSTATS": ("_IOWR", 65, "pfioc_table"),
    "DIOCRCLRADDRS": ("_IOWR", 66, "pfioc_table"),
    "DIOCRADDADDRS": ("_IOWR", 67, "pfioc_table"),
    "DIOCRDELADDRS": ("_IOWR", 68, "pfioc_table"),
    "DIOCRSETADDRS": ("_IOWR", 69, "pfioc_table"),
    "DIOCRGETADDRS": ("_IOWR", 70, "pfioc_table"),
    "DIOCRGETASTATS": ("_IOWR", 71, "pfioc_table"),
    "DIOCRCLRASTATS": ("_IOWR", 72, "pfioc_table"),
    "DIOCRTSTADDRS": ("_IOWR", 73, "pfioc_table"),
    "DIOCRSETTFLAGS": ("_IOWR", 74, "pfioc_table"),
    "DIOCRINADEFINE": ("_IOWR", 77, "pfioc_table"),
    "DIOCOSFPFLUSH": ("_IO", 78, None),
    "DIOCOSFPADD": ("_IOWR", 79, "pf_osfp_ioctl"),
    "DIOCOSFPGET": ("_IOWR", 80, "pf_osfp_ioctl"),
    "DIOCXBEGIN": ("_IOWR", 81, "pfioc_trans"),
    "DIOCXCOMMIT": ("_IOWR", 82, "pfioc_trans"),
    "DIOCXROLLBACK": ("_IOWR", 83, "pfioc_trans"),
    "DIOCGETSRCNODES": ("_IOWR", 84, "pfioc_src_nodes"),
    "DIOCCLRSRCNODES": ("_IO", 85, None),
    "DIOCSETHOSTID": ("_IOWR", 86, "u_int32_t"),
    "DIOCIGETIFACES": ("_IOWR", 87, "pfioc_iface"),
    "DIOCSETIFFLAG": ("_IOWR", 89, "pfioc_iface"),
    "DIOCCLRIFFLAG": ("_IOWR", 90, "pfioc_iface"),
    "DIOCKILLSRCNODES": ("_IOWR", 91, "pfioc_src_node_kill"),
    "DIOCSETREASS": ("_IOWR", 92, "u_int32_t"),
    "DIOCADDQUEUE": ("_IOWR", 93, "pfioc_queue"),
    "DIOCGETQUEUES": ("_IOWR", 94, "pfioc_queue"),
    "DIOCGETQUEUE": ("_IOWR", 95, "pfioc_queue"),
    "DIOCGETQSTATS": ("_IOWR", 96, "pfioc_qstats"),
    "DIOCSETSYNFLWATS": ("_IOWR", 97, "pfioc_synflwats"),
    "DIOCSETSYNCOOKIES": ("_IOWR", 98, "u_int8_t"),
    "DIOCGETSYNFLWATS": ("_IOWR", 99, "pfioc_synflwats"),
    "DIOCXEND": ("_IOWR", 100, "u_int32_t"),
}

# 7.9: state and source limiters.
LIMITER_REQUESTS: dict[str, tuple[str, int, str | None]] = {
    "DIOCADDSTATELIM": ("_IOW", 101, "pfioc_statelim"),
    "DIOCADDSOURCELIM": ("_IOW", 102, "pfioc_sourcelim"),
    "DIOCGETSTATELIM": ("_IOWR", 103, "pfioc_statelim"),
    "DIOCGETSOURCELIM": ("_IOWR", 104, "pfioc_sourcelim"),
    "DIOCGETSOURCE": ("_IOWR", 105, "pfioc_source"),
    "DIOCGETNSTATELIM": ("_IOWR", 106, "pfioc_statelim"),
    "DIOCGETNSOURCELIM": ("_IOWR", 107, "pfioc_sourcelim"),
    "DIOCGETNSOURCE": ("_IOWR", 108, "pfioc_source"),
    "DIOCCLRSOURCE": ("_IOWR", 109, "pfioc_source_kill"),
}


def ioc(direction: str, group: str, num: int, size: int) -> int:
    """``_IOC(inout, group, num, len)`` from sys/ioccom.h."""
    return _DIRS[direction] | ((size & IOCPARM_MASK) << 16) | (ord(group) << 8) | num
