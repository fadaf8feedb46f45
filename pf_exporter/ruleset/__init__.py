"""pf.conf compiler and printer.

:func:`run_pfctl` parses a ruleset the way ``pfctl -o none -nv -f FILE`` does (same
expansion, same errors, same output); :func:`compile_ruleset` turns it into the kernel
structs one transaction loads; :func:`format_rule` renders a rule in pfctl's canonical
syntax, whether it was parsed or decoded from the kernel with :func:`decode_rule`.
"""

from .checksum import ruleset_checksum
from .compile import CompiledRuleset, compile_ruleset
from .errors import Diagnostic, RulesetError
from .host import Host, corpus_host
from .model import AddrWrap, Anchor, Pool, QueueSpec, Rule, RuleAddr, TableAddress, TableDef
from .pfctl import Ruleset, pfctl_output, run_pfctl
from .printer import format_queuespec, format_rule, format_tabledef
from .sr import show_kernel_rules
from .structs import decode_rule, encode_rule

__all__ = [
    "AddrWrap", "Anchor", "CompiledRuleset", "Diagnostic", "Host", "Pool", "QueueSpec", "Rule", "RuleAddr",
    "Ruleset", "RulesetError", "TableAddress", "TableDef", "compile_ruleset", "corpus_host", "decode_rule",
    "encode_rule", "format_queuespec", "format_rule", "format_tabledef", "pfctl_output", "ruleset_checksum",
    "run_pfctl", "show_kernel_rules",
]
