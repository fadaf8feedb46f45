"""C declarations of the pf(4) ioctl structs, release by release (pure data).

Field names and types are spelled as in OpenBSD's ``net/pfvar.h``, ``net/hfsc.h``,
``net/fq_codel.h``, ``netinet/in.h`` and ``netinet6/in6.h``.  A type is a string
(``"u_int64_t[2][2][3]"``, ``"struct pf_addr"``, ``"void *"``) or, for a tag-less
member, ``Anon("union"|"struct", fields)``.  :mod:`pf_exporter.abi.layout` turns
these into ctypes classes for a given architecture; tests compare every size,
alignment and offset with the compiler-generated manifests.
"""

from __future__ import annotations

from dataclasses import dataclass

from .releases import release_features


@dataclass(frozen=True)
class Anon:
    """A tag-less struct or union member (``union { ... } v;``)."""

    kind: str  # "struct" | "union"
    fields: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Record:
    kind: str  # "struct" | "union"
    fields: tuple[tuple[str, object], ...]
    packed: bool = False  # __packed in the header (pfsync wire structs)


def S(*fields: tuple[str, object], packed: bool = False) -> Record:
    return Record("struct", tuple(fields), packed)


def U(*fields: tuple[str, object]) -> Record:
    return Record("union", tuple(fields))


def AS(*fields: tuple[str, object]) -> Anon:
    return Anon("struct", tuple(fields))


def AU(*fields: tuple[str, object]) -> Anon:
    return Anon("union", tuple(fields))


def _TQ_ENTRY(t: str) -> Anon:
    return AS(("tqe_next", f"struct {t} *"), ("tqe_prev", f"struct {t} **"))


def _RB_ENTRY(t: str) -> Anon:
    return AS(("rbe_left", f"struct {t} *"), ("rbe_right", f"struct {t} *"), ("rbe_parent", f"struct {t} *"),
              ("rbe_color", "int"))

# --- records identical in every supported release (7.6 .. -current) ---------

COMMON: dict[str, Record] = {
    # netinet/in.h, netinet6/in6.h
    "in_addr": S(("s_addr", "in_addr_t")),
    "in6_addr": S(
        (
            "__u6_addr",
            AU(
                ("__u6_addr8", "u_int8_t[16]"),
                ("__u6_addr16", "u_int16_t[8]"),
                ("__u6_addr32", "u_int32_t[4]"),
            ),
        )
    ),
    # net/pfvar.h
    "pf_addr": S(
        (
            "pfa",
            AU(
                ("v4", "struct in_addr"),
                ("v6", "struct in6_addr"),
                ("addr8", "u_int8_t[16]"),
                ("addr16", "u_int16_t[8]"),
                ("addr32", "u_int32_t[4]"),
            ),
        )
    ),
    "pf_addr_wrap": S(
        (
            "v",
            AU(
                ("a", AS(("addr", "struct pf_addr"), ("mask", "struct pf_addr"))),
                ("ifname", "char[16]"),
                ("tblname", "char[32]"),
                ("rtlabelname", "char[32]"),
                ("rtlabel", "u_int32_t"),
            ),
        ),
        (
            "p",
            AU(
                ("dyn", "struct pfi_dynaddr *"),
                ("tbl", "struct pfr_ktable *"),
                ("dyncnt", "int"),
                ("tblcnt", "int"),
            ),
        ),
        ("type", "u_int8_t"),
        ("iflags", "u_int8_t"),
    ),
    "pf_rule_uid": S(("uid", "uid_t[2]"), ("op", "u_int8_t")),
    "pf_rule_gid": S(("gid", "uid_t[2]"), ("op", "u_int8_t")),
    "pf_rule_addr": S(
        ("addr", "struct pf_addr_wrap"),
        ("port", "u_int16_t[2]"),
        ("neg", "u_int8_t"),
        ("port_op", "u_int8_t"),
        ("weight", "u_int16_t"),
    ),
    "pf_threshold": S(
        ("limit", "u_int32_t"), ("seconds", "u_int32_t"), ("count", "u_int32_t"), ("last", "u_int32_t")
    ),
    "pf_poolhashkey": S(
        ("pfk", AU(("key8", "u_int8_t[16]"), ("key16", "u_int16_t[8]"), ("key32", "u_int32_t[4]")))
    ),
    "pf_pool": S(
        ("addr", "struct pf_addr_wrap"),
        ("key", "struct pf_poolhashkey"),
        ("counter", "struct pf_addr"),
        ("ifname", "char[16]"),
        ("kif", "struct pfi_kif *"),
        ("tblidx", "int"),
        ("states", "u_int64_t"),
        ("curweight", "int"),
        ("weight", "u_int16_t"),
        ("proxy_port", "u_int16_t[2]"),
        ("port_op", "u_int8_t"),
        ("opts", "u_int8_t"),
    ),
    "pf_osfp_entry": S(
        ("fp_entry", AS(("sle_next", "struct pf_osfp_entry *"))),
        ("fp_os", "pf_osfp_t"),
        ("fp_enflags", "int"),
        ("fp_class_nm", "u_char[32]"),
        ("fp_version_nm", "u_char[32]"),
        ("fp_subtype_nm", "u_char[32]"),
    ),
    "pf_osfp_ioctl": S(
        ("fp_os", "struct pf_osfp_entry"),
        ("fp_tcpopts", "pf_tcpopts_t"),
        ("fp_wsize", "u_int16_t"),
        ("fp_psize", "u_int16_t"),
        ("fp_mss", "u_int16_t"),
        ("fp_flags", "u_int16_t"),
        ("fp_optcnt", "u_int8_t"),
        ("fp_wscale", "u_int8_t"),
        ("fp_ttl", "u_int8_t"),
        ("fp_getnum", "int"),
    ),
    "pf_rule_ptr": U(("ptr", "struct pf_rule *"), ("nr", "u_int32_t")),
    "pf_src_node": S(
        ("entry", _RB_ENTRY("pf_src_node")),
        ("addr", "struct pf_addr"),
        ("raddr", "struct pf_addr"),
        ("rule", "union pf_rule_ptr"),
        ("kif", "struct pfi_kif *"),
        ("bytes", "u_int64_t[2]"),
        ("packets", "u_int64_t[2]"),
        ("states", "u_int32_t"),
        ("conn", "u_int32_t"),
        ("conn_rate", "struct pf_threshold"),
        ("creation", "int32_t"),
        ("expire", "int32_t"),
        ("af", "sa_family_t"),
        ("naf", "sa_family_t"),
        ("type", "u_int8_t"),
    ),
    "pf_state_cmp": S(
        ("id", "u_int64_t"), ("creatorid", "u_int32_t"), ("direction", "u_int8_t"), ("pad", "u_int8_t[3]")
    ),
    # pfsync wire format (__packed, network byte order)
    "pfsync_state_scrub": S(
        ("pfss_flags", "u_int16_t"),
        ("pfss_ttl", "u_int8_t"),
        ("scrub_flag", "u_int8_t"),
        ("pfss_ts_mod", "u_int32_t"),
        packed=True,
    ),
    "pfsync_state_key": S(
        ("addr", "struct pf_addr[2]"),
        ("port", "u_int16_t[2]"),
        ("rdomain", "u_int16_t"),
        ("af", "sa_family_t"),
        ("pad", "u_int8_t"),
    ),
    "pfsync_state_peer": S(
        ("scrub", "struct pfsync_state_scrub"),
        ("seqlo", "u_int32_t"),
        ("seqhi", "u_int32_t"),
        ("seqdiff", "u_int32_t"),
        ("max_win", "u_int16_t"),
        ("mss", "u_int16_t"),
        ("state", "u_int8_t"),
        ("wscale", "u_int8_t"),
        ("pad", "u_int8_t[6]"),
        packed=True,
    ),
    "pfsync_state": S(
        ("id", "u_int64_t"),
        ("ifname", "char[16]"),
        ("key", "struct pfsync_state_key[2]"),
        ("src", "struct pfsync_state_peer"),
        ("dst", "struct pfsync_state_peer"),
        ("rt_addr", "struct pf_addr"),
        ("rule", "u_int32_t"),
        ("anchor", "u_int32_t"),
        ("nat_rule", "u_int32_t"),
        ("creation", "u_int32_t"),
        ("expire", "u_int32_t"),
        ("packets", "u_int32_t[2][2]"),
        ("bytes", "u_int32_t[2][2]"),
        ("creatorid", "u_int32_t"),
        ("rtableid", "int32_t[2]"),
        ("max_mss", "u_int16_t"),
        ("af", "sa_family_t"),
        ("proto", "u_int8_t"),
        ("direction", "u_int8_t"),
        ("log", "u_int8_t"),
        ("rt", "u_int8_t"),
        ("timeout", "u_int8_t"),
        ("sync_flags", "u_int8_t"),
        ("updates", "u_int8_t"),
        ("min_ttl", "u_int8_t"),
        ("set_tos", "u_int8_t"),
        ("state_flags", "u_int16_t"),
        ("set_prio", "u_int8_t[2]"),
        packed=True,
    ),
    # tables
    "pfr_table": S(
        ("pfrt_anchor", "char[1024]"),
        ("pfrt_name", "char[32]"),
        ("pfrt_flags", "u_int32_t"),
        ("pfrt_fback", "u_int8_t"),
    ),
    "pfr_addr": S(
        ("pfra_u", AU(("_pfra_ip4addr", "struct in_addr"), ("_pfra_ip6addr", "struct in6_addr"))),
        ("pfra_ifname", "char[16]"),
        ("pfra_states", "u_int32_t"),
        ("pfra_weight", "u_int16_t"),
        ("pfra_af", "u_int8_t"),
        ("pfra_net", "u_int8_t"),
        ("pfra_not", "u_int8_t"),
        ("pfra_fback", "u_int8_t"),
        ("pfra_type", "u_int8_t"),
        ("pad", "u_int8_t[7]"),
    ),
    "pfr_astats": S(
        ("pfras_a", "struct pfr_addr"),
        ("pfras_packets", "u_int64_t[2][3]"),
        ("pfras_bytes", "u_int64_t[2][3]"),
        ("pfras_tzero", "time_t"),
    ),
    "pfr_tstats": S(
        ("pfrts_t", "struct pfr_table"),
        ("pfrts_packets", "u_int64_t[2][4]"),
        ("pfrts_bytes", "u_int64_t[2][4]"),
        ("pfrts_match", "u_int64_t"),
        ("pfrts_nomatch", "u_int64_t"),
        ("pfrts_tzero", "time_t"),
        ("pfrts_cnt", "int"),
        ("pfrts_refcnt", "int[2]"),
    ),
    # interfaces
    "pfi_kif": S(
        ("pfik_name", "char[16]"),
        ("pfik_tree", _RB_ENTRY("pfi_kif")),
        ("pfik_packets", "u_int64_t[2][2][2]"),
        ("pfik_bytes", "u_int64_t[2][2][2]"),
        ("pfik_tzero", "time_t"),
        ("pfik_flags", "int"),
        ("pfik_flags_new", "int"),
        ("pfik_ah_cookie", "void *"),
        ("pfik_ifp", "struct ifnet *"),
        ("pfik_group", "struct ifg_group *"),
        ("pfik_states", "int"),
        ("pfik_rules", "int"),
        ("pfik_routes", "int"),
        ("pfik_srcnodes", "int"),
        ("pfik_flagrefs", "int"),
        ("pfik_dynaddrs", AS(("tqh_first", "struct pfi_dynaddr *"), ("tqh_last", "struct pfi_dynaddr **"))),
    ),
    "pf_status": S(
        ("counters", "u_int64_t[17]"),
        ("lcounters", "u_int64_t[10]"),
        ("fcounters", "u_int64_t[3]"),
        ("scounters", "u_int64_t[3]"),
        ("ncounters", "u_int64_t[3]"),
        ("pcounters", "u_int64_t[2][2][3]"),
        ("bcounters", "u_int64_t[2][2]"),
        ("stateid", "u_int64_t"),
        ("syncookies_inflight", "u_int64_t[2]"),
        ("since", "time_t"),
        ("running", "u_int32_t"),
        ("states", "u_int32_t"),
        ("states_halfopen", "u_int32_t"),
        ("src_nodes", "u_int32_t"),
        ("fragments", "u_int32_t"),
        ("debug", "u_int32_t"),
        ("hostid", "u_int32_t"),
        ("reass", "u_int32_t"),
        ("syncookies_active", "u_int8_t"),
        ("syncookies_mode", "u_int8_t"),
        ("pad", "u_int8_t[2]"),
        ("ifname", "char[16]"),
        ("pf_chksum", "u_int8_t[16]"),
    ),
    "pf_queue_fqspec": S(
        ("flows", "u_int"), ("quantum", "u_int"), ("target", "u_int"), ("interval", "u_int")
    ),
    "hfsc_pktcntr": S(("packets", "u_int64_t"), ("bytes", "u_int64_t")),
    "fqcodel_pktcntr": S(("packets", "uint64_t"), ("bytes", "uint64_t")),
    "fqcodel_stats": S(
        ("xmit_cnt", "struct fqcodel_pktcntr"),
        ("drop_cnt", "struct fqcodel_pktcntr"),
        ("qlength", "uint32_t"),
        ("qlimit", "uint32_t"),
        ("flows", "uint32_t"),
        ("_unused", "uint32_t"),
        ("target", "uint32_t"),
        ("interval", "uint32_t"),
        ("delaysum", "uint64_t"),
        ("delaysumsq", "uint64_t"),
    ),
    # ioctl argument structs
    "pfioc_natlook": S(
        ("saddr", "struct pf_addr"),
        ("daddr", "struct pf_addr"),
        ("rsaddr", "struct pf_addr"),
        ("rdaddr", "struct pf_addr"),
        ("rdomain", "u_int16_t"),
        ("rrdomain", "u_int16_t"),
        ("sport", "u_int16_t"),
        ("dport", "u_int16_t"),
        ("rsport", "u_int16_t"),
        ("rdport", "u_int16_t"),
        ("af", "sa_family_t"),
        ("proto", "u_int8_t"),
        ("direction", "u_int8_t"),
    ),
    "pfioc_state": S(("state", "struct pfsync_state"), packed=False),
    "pfioc_src_node_kill": S(
        ("psnk_af", "sa_family_t"),
        ("psnk_src", "struct pf_rule_addr"),
        ("psnk_dst", "struct pf_rule_addr"),
        ("psnk_killed", "u_int"),
    ),
    "pfioc_state_kill": S(
        ("psk_pfcmp", "struct pf_state_cmp"),
        ("psk_af", "sa_family_t"),
        ("psk_proto", "int"),
        ("psk_src", "struct pf_rule_addr"),
        ("psk_dst", "struct pf_rule_addr"),
        ("psk_ifname", "char[16]"),
        ("psk_label", "char[64]"),
        ("psk_killed", "u_int"),
        ("psk_rdomain", "u_int16_t"),
    ),
    "pfioc_states": S(
        ("ps_len", "size_t"),
        ("ps_u", AU(("psu_buf", "caddr_t"), ("psu_states", "struct pfsync_state *"))),
    ),
    "pfioc_src_nodes": S(
        ("psn_len", "size_t"),
        ("psn_u", AU(("psu_buf", "caddr_t"), ("psu_src_nodes", "struct pf_src_node *"))),
    ),
    "pfioc_tm": S(("timeout", "int"), ("seconds", "int")),
    "pfioc_limit": S(("index", "int"), ("limit", "unsigned int")),
    "pfioc_ruleset": S(("nr", "u_int32_t"), ("path", "char[1024]"), ("name", "char[64]")),
    "pfioc_trans_e": S(("type", "int"), ("anchor", "char[1024]"), ("ticket", "u_int32_t")),
    "pfioc_trans": S(("size", "int"), ("esize", "int"), ("array", "struct pfioc_trans_e *")),
    "pfioc_table": S(
        ("pfrio_table", "struct pfr_table"),
        ("pfrio_buffer", "void *"),
        ("pfrio_esize", "int"),
        ("pfrio_size", "int"),
        ("pfrio_size2", "int"),
        ("pfrio_nadd", "int"),
        ("pfrio_ndel", "int"),
        ("pfrio_nchange", "int"),
        ("pfrio_flags", "int"),
        ("pfrio_ticket", "u_int32_t"),
    ),
    "pfioc_iface": S(
        ("pfiio_name", "char[16]"),
        ("pfiio_buffer", "void *"),
        ("pfiio_esize", "int"),
        ("pfiio_size", "int"),
        ("pfiio_nzero", "int"),
        ("pfiio_flags", "int"),
    ),
    "pfioc_synflwats": S(("hiwat", "u_int32_t"), ("lowat", "u_int32_t")),
}

_QUEUESPEC = S(
    ("entries", _TQ_ENTRY("pf_queuespec")),
    ("qname", "char[64]"),
    ("parent", "char[64]"),
    ("ifname", "char[16]"),
    ("realtime", "struct pf_queue_scspec"),
    ("linkshare", "struct pf_queue_scspec"),
    ("upperlimit", "struct pf_queue_scspec"),
    ("flowqueue", "struct pf_queue_fqspec"),
    ("kif", "struct pfi_kif *"),
    ("flags", "u_int"),
    ("qlimit", "u_int"),
    ("qid", "u_int32_t"),
    ("parent_qid", "u_int32_t"),
)

QUEUES: dict[str, Record] = {
    "pf_queue_scspec": S(
        ("m1", "struct pf_queue_bwspec"), ("m2", "struct pf_queue_bwspec"), ("d", "u_int")
    ),
    "pf_queuespec": _QUEUESPEC,
    "pfioc_queue": S(("ticket", "u_int32_t"), ("nr", "u_int"), ("queue", "struct pf_queuespec")),
    "pfioc_qstats": S(
        ("ticket", "u_int32_t"),
        ("nr", "u_int32_t"),
        ("queue", "struct pf_queuespec"),
        ("buf", "void *"),
        ("nbytes", "int"),
    ),
}

# pfvar.h 1.541 (7.7): bandwidth became 64-bit.
BWSPEC_32 = {"pf_queue_bwspec": S(("absolute", "u_int"), ("percent", "u_int"))}
BWSPEC_64 = {"pf_queue_bwspec": S(("absolute", "uint64_t"), ("percent", "u_int"))}


def _hfsc_class_stats() -> Record:
    return S(
        ("xmit_cnt", "struct hfsc_pktcntr"),
        ("drop_cnt", "struct hfsc_pktcntr"),
        ("qlength", "u_int"),
        ("qlimit", "u_int"),
        ("period", "u_int"),
        ("class_id", "u_int"),
        ("class_handle", "u_int32_t"),
        ("rsc", "struct hfsc_sc"),
        ("fsc", "struct hfsc_sc"),
        ("usc", "struct hfsc_sc"),
        *[
            (n, "u_int64_t")
            for n in (
                "total", "cumul", "d", "e", "vt", "f", "initvt", "vtoff", "cvtmax",
                "myf", "cfmin", "cvtmin", "myfadj", "vtadj", "cur_time",
            )
        ],
        ("machclk_freq", "u_int32_t"),
        ("vtperiod", "u_int"),
        ("parentperiod", "u_int"),
        ("nactive", "int"),
        ("qtype", "int"),
    )


# hfsc.h 1.15 (7.9): service curves became 64-bit and `d` moved last.
HFSC_32 = {
    "hfsc_sc": S(("m1", "u_int"), ("d", "u_int"), ("m2", "u_int")),
    "hfsc_class_stats": _hfsc_class_stats(),
}
HFSC_64 = {
    "hfsc_sc": S(("m1", "u_int64_t"), ("m2", "u_int64_t"), ("d", "u_int")),
    "hfsc_class_stats": _hfsc_class_stats(),
}


def _pf_rule(limiters: bool) -> Record:
    fields: list[tuple[str, object]] = [
        ("src", "struct pf_rule_addr"),
        ("dst", "struct pf_rule_addr"),
        ("skip", "union pf_rule_ptr[9]"),
        ("label", "char[64]"),
        ("ifname", "char[16]"),
        ("rcv_ifname", "char[16]"),
        ("qname", "char[64]"),
        ("pqname", "char[64]"),
        ("tagname", "char[64]"),
        ("match_tagname", "char[64]"),
        ("overload_tblname", "char[32]"),
        ("entries", _TQ_ENTRY("pf_rule")),
        ("nat", "struct pf_pool"),
        ("rdr", "struct pf_pool"),
        ("route", "struct pf_pool"),
        ("pktrate", "struct pf_threshold"),
        ("evaluations", "u_int64_t"),
        ("packets", "u_int64_t[2]"),
        ("bytes", "u_int64_t[2]"),
        ("kif", "struct pfi_kif *"),
        ("rcv_kif", "struct pfi_kif *"),
        ("anchor", "struct pf_anchor *"),
        ("overload_tbl", "struct pfr_ktable *"),
        ("os_fingerprint", "pf_osfp_t"),
        ("rtableid", "int"),
        ("onrdomain", "int"),
        ("timeout", "u_int32_t[20]"),
        ("states_cur", "u_int32_t"),
        ("states_tot", "u_int32_t"),
        ("max_states", "u_int32_t"),
        ("src_nodes", "u_int32_t"),
        ("max_src_nodes", "u_int32_t"),
        ("max_src_states", "u_int32_t"),
        ("max_src_conn", "u_int32_t"),
        ("max_src_conn_rate", AS(("limit", "u_int32_t"), ("seconds", "u_int32_t"))),
        ("qid", "u_int32_t"),
        ("pqid", "u_int32_t"),
        ("rt_listid", "u_int32_t"),
        ("nr", "u_int32_t"),
        ("prob", "u_int32_t"),
        ("cuid", "uid_t"),
        ("cpid", "pid_t"),
        ("return_icmp", "u_int16_t"),
        ("return_icmp6", "u_int16_t"),
        ("max_mss", "u_int16_t"),
        ("tag", "u_int16_t"),
        ("match_tag", "u_int16_t"),
        ("scrub_flags", "u_int16_t"),
        ("delay", "u_int16_t"),
        ("uid", "struct pf_rule_uid"),
        ("gid", "struct pf_rule_gid"),
        ("rule_flag", "u_int32_t"),
        ("action", "u_int8_t"),
        ("direction", "u_int8_t"),
        ("log", "u_int8_t"),
        ("logif", "u_int8_t"),
        ("quick", "u_int8_t"),
        ("ifnot", "u_int8_t"),
        ("match_tag_not", "u_int8_t"),
        ("keep_state", "u_int8_t"),
        ("af", "sa_family_t"),
        ("proto", "u_int8_t"),
        ("type", "u_int16_t"),
        ("code", "u_int16_t"),
        ("flags", "u_int8_t"),
        ("flagset", "u_int8_t"),
        ("min_ttl", "u_int8_t"),
        ("allow_opts", "u_int8_t"),
        ("rt", "u_int8_t"),
        ("return_ttl", "u_int8_t"),
        ("tos", "u_int8_t"),
        ("set_tos", "u_int8_t"),
        ("anchor_relative", "u_int8_t"),
        ("anchor_wildcard", "u_int8_t"),
        ("flush", "u_int8_t"),
        ("prio", "u_int8_t"),
        ("set_prio", "u_int8_t[2]"),
        ("naf", "sa_family_t"),
        ("rcvifnot", "u_int8_t"),
    ]
    if limiters:  # pfvar.h 1.548 (7.9)
        fields += [
            ("statelim", AS(("id", "u_int8_t"), ("limiter_action", "int"))),
            ("sourcelim", AS(("id", "u_int8_t"), ("limiter_action", "int"))),
        ]
    fields += [
        ("divert", AS(("addr", "struct pf_addr"), ("port", "u_int16_t"), ("type", "u_int8_t"))),
        ("exptime", "time_t"),
    ]
    return S(*fields)


def _rules(limiters: bool) -> dict[str, Record]:
    return {
        "pf_rule": _pf_rule(limiters),
        "pfioc_rule": S(
            ("action", "u_int32_t"),
            ("ticket", "u_int32_t"),
            ("nr", "u_int32_t"),
            ("anchor", "char[1024]"),
            ("anchor_call", "char[1024]"),
            ("rule", "struct pf_rule"),
        ),
    }


# 7.9: state and source limiters (pfvar.h 1.548).
LIMITERS: dict[str, Record] = {
    "pfioc_statelim": S(
        ("ticket", "u_int32_t"),
        ("name", "char[16]"),
        ("id", "uint32_t"),
        ("limit", "unsigned int"),
        ("rate", AS(("limit", "unsigned int"), ("seconds", "unsigned int"))),
        ("description", "char[64]"),
        ("inuse", "unsigned int"),
        ("admitted", "uint64_t"),
        ("hardlimited", "uint64_t"),
        ("ratelimited", "uint64_t"),
    ),
    "pfioc_sourcelim": S(
        ("ticket", "u_int32_t"),
        ("name", "char[16]"),
        ("id", "uint32_t"),
        ("entries", "unsigned int"),
        ("limit", "unsigned int"),
        ("rate", AS(("limit", "unsigned int"), ("seconds", "unsigned int"))),
        ("overload_tblname", "char[32]"),
        ("overload_hwm", "unsigned int"),
        ("overload_lwm", "unsigned int"),
        ("inet_prefix", "unsigned int"),
        ("inet6_prefix", "unsigned int"),
        ("description", "char[64]"),
        ("nentries", "unsigned int"),
        ("inuse", "unsigned int"),
        ("addrallocs", "uint64_t"),
        ("addrnomem", "uint64_t"),
        ("admitted", "uint64_t"),
        ("addrlimited", "uint64_t"),
        ("hardlimited", "uint64_t"),
        ("ratelimited", "uint64_t"),
    ),
    "pfioc_source_entry": S(
        ("af", "sa_family_t"),
        ("rdomain", "unsigned int"),
        ("addr", "struct pf_addr"),
        ("inuse", "unsigned int"),
        ("admitted", "uint64_t"),
        ("hardlimited", "uint64_t"),
        ("ratelimited", "uint64_t"),
    ),
    "pfioc_source": S(
        ("name", "char[16]"),
        ("id", "uint32_t"),
        ("inet_prefix", "unsigned int"),
        ("inet6_prefix", "unsigned int"),
        ("limit", "unsigned int"),
        ("entry_size", "size_t"),
        ("key", "struct pfioc_source_entry *"),
        ("entries", "struct pfioc_source_entry *"),
        ("entrieslen", "size_t"),
    ),
    "pfioc_source_kill": S(
        ("name", "char[16]"),
        ("id", "uint32_t"),
        ("rdomain", "unsigned int"),
        ("af", "sa_family_t"),
        ("addr", "struct pf_addr"),
        ("rmstates", "unsigned int"),
    ),
}


def records_for(release: str) -> dict[str, Record]:
    """Every record declared for *release* ("7.6" .. "7.9", "current")."""
    features = release_features(release)
    recs: dict[str, Record] = dict(COMMON)
    recs.update(QUEUES)
    recs.update(BWSPEC_64 if "bwspec64" in features else BWSPEC_32)
    recs.update(HFSC_64 if "hfsc64" in features else HFSC_32)
    recs.update(_rules(limiters="limiters" in features))
    if "limiters" in features:
        recs.update(LIMITERS)
    return recs
