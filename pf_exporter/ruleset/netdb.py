"""Name tables pf.conf refers to: services, protocols, ICMP types and codes, TOS names,
syslog levels, users and groups.

These are built in (OpenBSD's stock ``/etc/services``, ``/etc/protocols``, ``/etc/passwd``
and ``/etc/group`` values, and the ICMP/TOS names pfctl knows) so that compiling a
ruleset gives the same result on every machine, whatever the local ``/etc`` says.
A :class:`~pf_exporter.ruleset.host.Host` can extend or replace the services, protocols,
users and groups.
"""

from __future__ import annotations

# (name, port, protocols, aliases) as in OpenBSD's /etc/services.
_SERVICES: tuple[tuple[str, int, str, tuple[str, ...]], ...] = (
    ("tcpmux", 1, "tcp", ()),
    ("echo", 7, "tcp udp", ()),
    ("discard", 9, "tcp udp", ("sink", "null")),
    ("systat", 11, "tcp", ("users",)),
    ("daytime", 13, "tcp udp", ()),
    ("netstat", 15, "tcp", ()),
    ("qotd", 17, "tcp", ("quote",)),
    ("chargen", 19, "tcp udp", ("ttytst", "source")),
    ("ftp-data", 20, "tcp", ()),
    ("ftp", 21, "tcp", ()),
    ("ssh", 22, "tcp udp", ()),
    ("telnet", 23, "tcp", ()),
    ("smtp", 25, "tcp", ("mail",)),
    ("time", 37, "tcp udp", ("timserver",)),
    ("rlp", 39, "udp", ("resource",)),
    ("whois", 43, "tcp", ("nicname",)),
    ("domain", 53, "tcp udp", ("nameserver",)),
    ("mtp", 57, "tcp", ()),
    ("bootps", 67, "tcp udp", ()),
    ("bootpc", 68, "tcp udp", ()),
    ("tftp", 69, "udp", ()),
    ("gopher", 70, "tcp udp", ()),
    ("rje", 77, "tcp", ("netrjs",)),
    ("finger", 79, "tcp", ()),
    ("www", 80, "tcp udp", ("http",)),
    ("link", 87, "tcp", ("ttylink",)),
    ("kerberos", 88, "tcp udp", ("kerberos-sec", "krb5")),
    ("supdup", 95, "tcp", ()),
    ("hostnames", 101, "tcp", ("hostname",)),
    ("iso-tsap", 102, "tcp", ("tsap",)),
    ("x400", 103, "tcp", ()),
    ("x400-snd", 104, "tcp", ()),
    ("csnet-ns", 105, "tcp", ("cso-ns",)),
    ("pop2", 109, "tcp", ("postoffice",)),
    ("pop3", 110, "tcp", ()),
    ("sunrpc", 111, "tcp udp", ("rpcbind",)),
    ("auth", 113, "tcp", ("ident",)),
    ("sftp", 115, "tcp", ()),
    ("uucp-path", 117, "tcp", ()),
    ("nntp", 119, "tcp", ("readnews", "untp")),
    ("ntp", 123, "tcp udp", ()),
    ("netbios-ns", 137, "tcp udp", ()),
    ("netbios-dgm", 138, "tcp udp", ()),
    ("netbios-ssn", 139, "tcp udp", ()),
    ("imap", 143, "tcp", ("imap2", "imap4")),
    ("snmp", 161, "udp", ()),
    ("snmp-trap", 162, "udp", ("snmptrap",)),
    ("xdmcp", 177, "udp", ()),
    ("bgp", 179, "tcp udp", ()),
    ("prospero", 191, "tcp", ()),
    ("irc", 194, "tcp udp", ()),
    ("smux", 199, "tcp udp", ()),
    ("at-rtmp", 201, "udp", ()),
    ("at-nbp", 202, "udp", ()),
    ("at-echo", 204, "udp", ()),
    ("at-zis", 206, "udp", ()),
    ("z3950", 210, "tcp udp", ("wais",)),
    ("ipx", 213, "tcp udp", ()),
    ("imap3", 220, "tcp udp", ()),
    ("ldap", 389, "tcp udp", ()),
    ("https", 443, "tcp udp", ()),
    ("microsoft-ds", 445, "tcp udp", ()),
    ("kpasswd", 464, "tcp udp", ()),
    ("photuris", 468, "tcp udp", ()),
    ("isakmp", 500, "udp", ()),
    ("exec", 512, "tcp", ()),
    ("biff", 512, "udp", ("comsat",)),
    ("login", 513, "tcp", ()),
    ("who", 513, "udp", ("whod",)),
    ("shell", 514, "tcp", ("cmd",)),
    ("syslog", 514, "udp", ()),
    ("printer", 515, "tcp", ("spooler",)),
    ("talk", 517, "udp", ()),
    ("ntalk", 518, "udp", ()),
    ("route", 520, "udp", ("router", "routed")),
    ("ripng", 521, "udp", ()),
    ("timed", 525, "udp", ("timeserver",)),
    ("tempo", 526, "tcp", ("newdate",)),
    ("courier", 530, "tcp", ("rpc",)),
    ("conference", 531, "tcp", ("chat",)),
    ("netnews", 532, "tcp", ()),
    ("netwall", 533, "udp", ()),
    ("uucp", 540, "tcp", ("uucpd",)),
    ("klogin", 543, "tcp", ()),
    ("kshell", 544, "tcp", ("krcmd",)),
    ("dhcpv6-client", 546, "tcp udp", ()),
    ("dhcpv6-server", 547, "tcp udp", ()),
    ("afpovertcp", 548, "tcp udp", ()),
    ("remotefs", 556, "tcp", ("rfs_server", "rfs")),
    ("rtsp", 554, "tcp udp", ()),
    ("submission", 587, "tcp", ()),
    ("ipp", 631, "tcp", ()),
    ("ldaps", 636, "tcp", ()),
    ("silc", 706, "tcp udp", ()),
    ("kerberos-adm", 749, "tcp", ()),
    ("kerberos-iv", 750, "udp", ("kdc",)),
    ("kpop", 1109, "tcp", ()),
    ("rsync", 873, "tcp", ()),
    ("domain-s", 853, "tcp udp", ()),
    ("ftps-data", 989, "tcp", ()),
    ("ftps", 990, "tcp", ()),
    ("telnets", 992, "tcp", ()),
    ("imaps", 993, "tcp", ()),
    ("pop3s", 995, "tcp", ()),
    ("socks", 1080, "tcp", ()),
    ("openvpn", 1194, "tcp udp", ()),
    ("ms-sql-s", 1433, "tcp", ()),
    ("ms-sql-m", 1434, "udp", ()),
    ("pptp", 1723, "tcp", ()),
    ("radius", 1812, "udp", ()),
    ("radacct", 1813, "udp", ()),
    ("nfsd", 2049, "tcp udp", ("nfs",)),
    ("gre-in-udp", 4754, "udp", ()),
    ("gre-udp-dtls", 4755, "udp", ()),
    ("ipsec-nat-t", 4500, "udp", ()),
    ("mysql", 3306, "tcp", ()),
    ("rdp", 3389, "tcp", ()),
    ("svn", 3690, "tcp", ()),
    ("sieve", 4190, "tcp", ()),
    ("postgresql", 5432, "tcp", ()),
    ("x11", 6000, "tcp", ()),
    ("ircd", 6667, "tcp", ()),
    ("spamd", 8025, "tcp", ()),
    ("spamd-cfg", 8026, "tcp", ()),
    ("spamd-sync", 8025, "udp", ()),
    ("hunt", 26740, "udp", ()),
)

# (name, number, aliases) as in OpenBSD's /etc/protocols.
_PROTOCOLS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("ip", 0, ("IP",)),
    ("icmp", 1, ("ICMP",)),
    ("igmp", 2, ("IGMP",)),
    ("ggp", 3, ("GGP",)),
    ("ipencap", 4, ("IP-ENCAP",)),
    ("st", 5, ("ST",)),
    ("tcp", 6, ("TCP",)),
    ("egp", 8, ("EGP",)),
    ("igp", 9, ("IGP",)),
    ("pup", 12, ("PUP",)),
    ("udp", 17, ("UDP",)),
    ("hmp", 20, ("HMP",)),
    ("xns-idp", 22, ("XNS-IDP",)),
    ("rdp", 27, ("RDP",)),
    ("iso-tp4", 29, ("ISO-TP4",)),
    ("xtp", 36, ("XTP",)),
    ("ddp", 37, ("DDP",)),
    ("idpr-cmtp", 38, ("IDPR-CMTP",)),
    ("ipv6", 41, ("IPV6",)),
    ("ipv6-route", 43, ("IPV6-ROUTE",)),
    ("ipv6-frag", 44, ("IPV6-FRAG",)),
    ("idrp", 45, ("IDRP",)),
    ("rsvp", 46, ("RSVP",)),
    ("gre", 47, ("GRE",)),
    ("esp", 50, ("ESP",)),
    ("ah", 51, ("AH",)),
    ("skip", 57, ("SKIP",)),
    ("ipv6-icmp", 58, ("IPV6-ICMP", "icmp6")),
    ("ipv6-nonxt", 59, ("IPV6-NONXT",)),
    ("ipv6-opts", 60, ("IPV6-OPTS",)),
    ("rspf", 73, ("RSPF", "CPHB")),
    ("vmtp", 81, ("VMTP",)),
    ("eigrp", 88, ("EIGRP",)),
    ("ospf", 89, ("OSPFIGP",)),
    ("ax.25", 93, ("AX.25",)),
    ("ipip", 94, ("IPIP",)),
    ("etherip", 97, ("ETHERIP",)),
    ("encap", 98, ("ENCAP",)),
    ("pim", 103, ("PIM",)),
    ("ipcomp", 108, ("IPCOMP",)),
    ("carp", 112, ("CARP", "vrrp")),
    ("l2tp", 115, ("L2TP",)),
    ("sctp", 132, ("SCTP",)),
    ("udplite", 136, ("UDPLite",)),
    ("mpls-in-ip", 137, ("MPLS-IN-IP",)),
    ("wesp", 141, ("WESP",)),
    ("pfsync", 240, ("PFSYNC",)),
)

# ICMP types, in the order pfctl searches them (sbin/pfctl/pfctl_parser.c icmp_type[]).
ICMP_TYPES: tuple[tuple[str, int], ...] = (
    ("echoreq", 8), ("echorep", 0), ("unreach", 3), ("squench", 4), ("redir", 5),
    ("althost", 6), ("routeradv", 9), ("routersol", 10), ("timex", 11), ("paramprob", 12),
    ("timereq", 13), ("timerep", 14), ("inforeq", 15), ("inforep", 16), ("maskreq", 17),
    ("maskrep", 18), ("trace", 30), ("dataconv", 31), ("mobredir", 32), ("ipv6-where", 33),
    ("ipv6-here", 34), ("mobregreq", 35), ("mobregrep", 36), ("skip", 39), ("photuris", 40),
)

ICMP6_TYPES: tuple[tuple[str, int], ...] = (
    ("unreach", 1), ("toobig", 2), ("timex", 3), ("paramprob", 4), ("echoreq", 128),
    ("echorep", 129), ("groupqry", 130), ("listqry", 130), ("grouprep", 131), ("listenrep", 131),
    ("groupterm", 132), ("listendone", 132), ("routersol", 133), ("routeradv", 134),
    ("neighbrsol", 135), ("neighbradv", 136), ("redir", 137), ("routrrenum", 138),
    ("wrureq", 139), ("wrurep", 140), ("fqdnreq", 139), ("fqdnrep", 140), ("niqry", 139),
    ("nirep", 140), ("mtraceresp", 200), ("mtrace", 201), ("listenrepv2", 143),
)

# (name, type, code)
ICMP_CODES: tuple[tuple[str, int, int], ...] = (
    ("net-unr", 3, 0), ("host-unr", 3, 1), ("proto-unr", 3, 2), ("port-unr", 3, 3),
    ("needfrag", 3, 4), ("srcfail", 3, 5), ("net-unk", 3, 6), ("host-unk", 3, 7),
    ("isolate", 3, 8), ("net-prohib", 3, 9), ("host-prohib", 3, 10), ("net-tos", 3, 11),
    ("host-tos", 3, 12), ("filter-prohib", 3, 13), ("host-preced", 3, 14), ("cutoff-preced", 3, 15),
    ("redir-net", 5, 0), ("redir-host", 5, 1), ("redir-tos-net", 5, 2), ("redir-tos-host", 5, 3),
    ("normal-adv", 9, 0), ("common-adv", 9, 16), ("transit", 11, 0), ("reassemb", 11, 1),
    ("badhead", 12, 0), ("optmiss", 12, 1), ("badlen", 12, 2), ("unknown-ind", 40, 1),
    ("auth-fail", 40, 2), ("decrypt-fail", 40, 3),
)

ICMP6_CODES: tuple[tuple[str, int, int], ...] = (
    ("admin-unr", 1, 1), ("noroute-unr", 1, 0), ("beyond-unr", 1, 2), ("addr-unr", 1, 3),
    ("port-unr", 1, 4), ("transit", 3, 0), ("reassemb", 3, 1), ("badhead", 4, 0),
    ("nxthdr", 4, 1), ("redironlink", 137, 0), ("redirrouter", 137, 1),
)

ICMP_UNREACH = 3
ICMP_UNREACH_PORT = 3
ICMP6_DST_UNREACH = 1
ICMP6_DST_UNREACH_NOPORT = 4

# DiffServ code points and the classic TOS names (map_tos() in parse.y); matched case-insensitively.
TOS_NAMES: dict[str, int] = {
    "af11": 0x28, "af12": 0x30, "af13": 0x38, "af21": 0x48, "af22": 0x50, "af23": 0x58,
    "af31": 0x68, "af32": 0x70, "af33": 0x78, "af41": 0x88, "af42": 0x90, "af43": 0x98,
    "critical": 0xA0, "cs0": 0x00, "cs1": 0x20, "cs2": 0x40, "cs3": 0x60, "cs4": 0x80,
    "cs5": 0xA0, "cs6": 0xC0, "cs7": 0xE0, "ef": 0xB8, "inetcontrol": 0xC0, "lowdelay": 0x10,
    "netcontrol": 0xE0, "reliability": 0x04, "throughput": 0x08,
}

# syslog(3) priority names (prioritynames[] without "none").
SYSLOG_LEVELS: tuple[tuple[str, int], ...] = (
    ("alert", 1), ("crit", 2), ("debug", 7), ("emerg", 0), ("err", 3), ("error", 3),
    ("info", 6), ("notice", 5), ("panic", 0), ("warn", 4), ("warning", 4),
)

USERS: dict[str, int] = {
    "root": 0, "daemon": 1, "operator": 2, "bin": 3, "build": 21, "sshd": 27, "_portmap": 28,
    "_identd": 29, "_rstatd": 30, "_rusersd": 32, "_fingerd": 33, "_x11": 35, "www": 67,
    "_isakmpd": 68, "_ntp": 83, "_ftp": 84, "_ospfd": 85, "_hostapd": 86, "_dhcp": 77,
    "_unbound": 53, "_pflogd": 74, "_bgpd": 89, "_smtpd": 95, "_spamd": 62, "nobody": 32767,
}

GROUPS: dict[str, int] = {
    "wheel": 0, "daemon": 1, "kmem": 2, "sys": 3, "tty": 4, "operator": 5, "bin": 7,
    "wsrc": 9, "users": 10, "auth": 11, "games": 13, "staff": 20, "wobj": 21, "sshd": 27,
    "guest": 31, "utmp": 45, "crontab": 66, "www": 67, "network": 69, "authpf": 72,
    "_pflogd": 74, "_dhcp": 77, "dialer": 117, "nogroup": 32766, "nobody": 32767,
}


def builtin_services() -> dict[tuple[str, str], int]:
    """(name, "tcp"|"udp") -> port, including aliases."""
    out: dict[tuple[str, str], int] = {}
    for name, port, protos, aliases in _SERVICES:
        for proto in protos.split():
            for n in (name, *aliases):
                out.setdefault((n, proto), port)
    return out


def builtin_protocols() -> tuple[dict[str, int], dict[int, str]]:
    """(name or alias -> number, number -> official name)."""
    by_name: dict[str, int] = {}
    by_number: dict[int, str] = {}
    for name, number, aliases in _PROTOCOLS:
        for n in (name, *aliases):
            by_name.setdefault(n, number)
        by_number.setdefault(number, name)
    return by_name, by_number


def icmp_type_by_name(name: str, inet6: bool) -> int | None:
    for n, t in ICMP6_TYPES if inet6 else ICMP_TYPES:
        if n == name:
            return t
    return None


def icmp_type_name(number: int, inet6: bool) -> str | None:
    for n, t in ICMP6_TYPES if inet6 else ICMP_TYPES:
        if t == number:
            return n
    return None


def icmp_code_by_name(icmp_type: int, name: str, inet6: bool) -> int | None:
    for n, t, c in ICMP6_CODES if inet6 else ICMP_CODES:
        if t == icmp_type and n == name:
            return c
    return None


def icmp_code_name(icmp_type: int, code: int, inet6: bool) -> str | None:
    for n, t, c in ICMP6_CODES if inet6 else ICMP_CODES:
        if t == icmp_type and c == code:
            return n
    return None


def loglevel_by_name(name: str) -> int:
    """string_to_loglevel(): a number 0-7 or a syslog priority name; -1 when unknown."""
    if name[:1].isdigit():
        return int(name) if name.isdigit() and int(name) <= 7 else -1
    lowered = name[:39].lower()
    for n, v in SYSLOG_LEVELS:
        if n == lowered:
            return v
    return -1
