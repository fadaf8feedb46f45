""":class:`PacketFilter`'s table operations, as ``pfctl -t <table> -T <command>`` does them."""

from __future__ import annotations

from collections.abc import Iterable

from ..abi import constants as C
from ..errors import PfInvalidArgument
from . import types as T
from ._args import AddressLike, _addresses, _anchor, _table
from ._kernel import IoctlBackend

_FLAG_BITS = {"persist": C.PFR_TFLAG_PERSIST, "const": C.PFR_TFLAG_CONST, "counters": C.PFR_TFLAG_COUNTERS}


def _dummy(dry_run: bool) -> int:
    return C.PFR_FLAG_DUMMY if dry_run else 0


class TablesMixin:
    """Table creation, deletion, flushing, testing, counters and expiry (``backend`` and
    ``_writable()`` are :class:`PacketFilter`'s).  A *dry_run* (``pfctl -n``) asks pf what it would
    do (PFR_FLAG_DUMMY) and changes nothing; it works on a read-only handle, as pf allows it."""

    backend: IoctlBackend

    def _writable(self, what: str) -> None:  # PacketFilter's
        raise NotImplementedError

    def _change(self, what: str, dry_run: bool) -> None:
        if not dry_run:
            self._writable(what)

    # --- whole tables ----------------------------------------------------------------------

    def create_table(self, table: str, anchor: str = "", *, persist: bool = True, const: bool = False,
                     counters: bool = False, dry_run: bool = False) -> bool:
        """``pfctl -t table -T add`` of a table that does not exist yet: create it (``persist`` by
        default, as pfctl does, so it outlives having no rule that uses it).  False when it existed."""
        name, path = _table(table), _anchor(anchor)
        flags = (C.PFR_TFLAG_PERSIST if persist else 0) | (C.PFR_TFLAG_CONST if const else 0) | (
            C.PFR_TFLAG_COUNTERS if counters else 0)
        self._change("create_table", dry_run)
        io = self.backend.table_request("DIOCRADDTABLES", [(path, name, flags)], _dummy(dry_run))
        return bool(io.pfrio_nadd)

    def delete_table(self, table: str, anchor: str = "", *, dry_run: bool = False) -> int:
        """``pfctl -t table -T kill``: remove the table (a table rules still use stays, inactive, until
        they go).  Returns how many tables were removed (0 or 1)."""
        name, path = _table(table), _anchor(anchor)
        self._change("delete_table", dry_run)
        return int(self.backend.table_request("DIOCRDELTABLES", [(path, name, 0)], _dummy(dry_run)).pfrio_ndel)

    def flush_tables(self, anchor: str = "", *, dry_run: bool = False) -> int:
        """``pfctl -a anchor -F Tables``: remove every table of *anchor* (persistent ones too)."""
        path = _anchor(anchor)
        self._change("flush_tables", dry_run)
        return int(self.backend.table_call("DIOCRCLRTABLES", path, "", _dummy(dry_run)).pfrio_ndel)

    def flush_table(self, table: str, anchor: str = "", *, dry_run: bool = False) -> int:
        """``pfctl -t table -T flush``: remove every address of the table; returns how many."""
        name, path = _table(table), _anchor(anchor)
        self._change("flush_table", dry_run)
        return int(self.backend.table_call("DIOCRCLRADDRS", path, name, _dummy(dry_run)).pfrio_ndel)

    def set_table_flags(self, table: str, anchor: str = "", *, persist: bool | None = None,
                        const: bool | None = None, counters: bool | None = None,
                        dry_run: bool = False) -> tuple[int, int]:
        """Change a table's user flags (DIOCRSETTFLAGS): True sets, False clears, None leaves.  Clearing
        ``persist`` of a table no rule uses removes it.  Returns (tables changed, tables removed)."""
        name, path = _table(table), _anchor(anchor)
        setf = clrf = 0
        for flag, value in (("persist", persist), ("const", const), ("counters", counters)):
            if value is None:
                continue
            if not isinstance(value, bool):
                raise PfInvalidArgument("set_table_flags", f"{flag} is True, False or None")
            if value:
                setf |= _FLAG_BITS[flag]
            else:
                clrf |= _FLAG_BITS[flag]
        if not setf | clrf:
            raise PfInvalidArgument("set_table_flags", "no flag given (persist, const or counters)")
        self._change("set_table_flags", dry_run)
        io = self.backend.table_request("DIOCRSETTFLAGS", [(path, name, 0)], _dummy(dry_run),
                                        pfrio_size2=setf, pfrio_nadd=clrf)  # pfrio_setflag, pfrio_clrflag
        return int(io.pfrio_nchange), int(io.pfrio_ndel)

    def zero_tables(self, table: str | None = None, anchor: str = "", *, dry_run: bool = False) -> int:
        """``pfctl -T zero`` without addresses: zero the counters of one table (or, with no *table*,
        of every table of *anchor*) and of their addresses.  Returns how many tables."""
        path = _anchor(anchor)
        self._change("zero_tables", dry_run)
        names = [_table(table)] if table is not None else [t.name for t in self.backend.tables(path)
                                                           if t.anchor == path]
        if not names:
            return 0
        io = self.backend.table_request("DIOCRCLRTSTATS", [(path, n, 0) for n in names],
                                        _dummy(dry_run) | C.PFR_FLAG_ADDRSTOO)
        return int(io.pfrio_nadd)  # pfrio_nzero

    # --- addresses -------------------------------------------------------------------------

    def test_addresses(self, table: str, addresses: Iterable[AddressLike], anchor: str = "") -> T.TableTest:
        """``pfctl -t table -T test``: which of *addresses* the table matches (a negated entry that
        matches counts as no match, result "nomatch"); each result names the deciding entry."""
        entries = _addresses(addresses, "test_addresses")
        name, path = _table(table), _anchor(anchor)
        if not entries:
            raise PfInvalidArgument("test_addresses", "no address to test")
        matched, found = self.backend.test_addresses(path, name, [(m.network, m.negated) for m in entries])
        results = tuple(T.AddressResult(T.TableAddress(m.network, m.negated), result, entry)
                        for m, (result, entry) in zip(entries, found, strict=True))
        return T.TableTest(matched, results)

    def zero_addresses(self, table: str, addresses: Iterable[AddressLike], anchor: str = "", *,
                       dry_run: bool = False) -> int:
        """``pfctl -t table -T zero address...``: zero these addresses' counters; returns how many."""
        entries = _addresses(addresses, "zero_addresses")
        name, path = _table(table), _anchor(anchor)
        self._change("zero_addresses", dry_run)
        return self.backend.clear_address_stats(path, name, [(m.network, m.negated) for m in entries],
                                                _dummy(dry_run))

    def expire_addresses(self, table: str, seconds: int, anchor: str = "", *, dry_run: bool = False,
                         feedback: bool = False) -> T.TableChange:
        """``pfctl -t table -T expire seconds``: delete the addresses whose counters were last cleared
        more than *seconds* ago (entries of a table without ``counters`` are cleared when added)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 2**31 - 1:
            raise PfInvalidArgument("expire_addresses", f"seconds is an integer 0..{2**31 - 1}, not {seconds!r}")
        name, path = _table(table), _anchor(anchor)
        self._change("expire_addresses", dry_run)
        now = self.backend.now()
        old = [(a.network, a.negated) for a in self.backend.table_addresses(path, name, True)
               if now - a.cleared > seconds]
        flags = _dummy(dry_run) | (C.PFR_FLAG_FEEDBACK if feedback else 0)
        if not old:
            return T.TableChange(dry_run=dry_run)
        return self.backend.change_addresses("DIOCRDELADDRS", path, name, old, flags)
