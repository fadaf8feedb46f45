"""The pf.conf language: parser, printer and optimizer, as pfctl has them.

:func:`run_pfctl` parses a ruleset the way ``pfctl -o none -nv -f FILE`` does (same
expansion, same errors, same output) into :mod:`.model` values; :func:`format_rule` renders
a rule in pfctl's canonical syntax, whether it was parsed or read back from the kernel.
Turning rules into kernel structs and loading them is the pf library's part
(:meth:`pf_exporter.pf.PacketFilter.load`).
"""

from .checksum import ruleset_checksum
from .errors import Diagnostic, RulesetError
from .host import Host, corpus_host
from .model import AddrWrap, Anchor, Pool, QueueSpec, RuleAddr, RuleDef, TableAddress, TableDef
from .pfctl import Ruleset, pfctl_output, run_pfctl
from .printer import format_queuespec, format_rule, format_tabledef

__all__ = [
    "AddrWrap", "Anchor", "Diagnostic", "Host", "Pool", "QueueSpec", "RuleDef", "RuleAddr", "Ruleset", "RulesetError",
    "TableAddress", "TableDef", "corpus_host", "format_queuespec", "format_rule", "format_tabledef", "pfctl_output",
    "ruleset_checksum", "run_pfctl",
]
