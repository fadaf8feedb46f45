"""``python -m pf_exporter.ruleset [-N] [-D macro=value] [-a anchor] [--host FILE] FILE``:
print what ``pfctl -o none -nv -f FILE`` prints, or pfctl's errors and exit 1."""

from __future__ import annotations

import argparse
import json
import sys

from .host import Host, corpus_host
from .pfctl import pfctl_output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pf_exporter.ruleset",
        description="Parse a pf.conf file and print it as `pfctl -o none -nv -f FILE` would.")
    parser.add_argument("file", help="the ruleset; - reads standard input (named stdin in messages)")
    parser.add_argument("-D", dest="macros", action="append", default=[], metavar="macro=value",
                        help="define a macro, overriding the file's definition")
    parser.add_argument("-a", dest="anchor", default="", help="load the rules into this anchor")
    parser.add_argument("-N", dest="numeric", action="store_true", help="resolve no host names")
    parser.add_argument("--host", metavar="FILE",
                        help="JSON description of the machine (interfaces, addresses, host names); "
                             "default: the machine OpenBSD's pfctl regression tests ran on")
    args = parser.parse_args(argv)

    macros: dict[str, str] = {}
    for definition in args.macros:
        name, sep, value = definition.rpartition("=")
        if not sep:
            print(f"pfctl: could not parse macro definition {definition}", file=sys.stderr)
            continue
        macros[name] = value
    if args.anchor.startswith("_") or "/_" in args.anchor:
        print("pfctl: anchor names beginning with '_' cannot be modified from the command line", file=sys.stderr)
        return 1
    host = corpus_host()
    if args.host:
        with open(args.host, encoding="utf-8") as f:
            host = Host.from_dict(json.load(f))
    if args.file == "-":
        text = sys.stdin.read()
        name = "stdin"
    else:
        try:
            with open(args.file, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            print(f"pfctl: pushfile: {args.file}: {e.strerror}", file=sys.stderr)
            print("pfctl: cannot open the main config file!", file=sys.stderr)
            return 1
        name = args.file
    stdout, stderr, status = pfctl_output(text, name, host=host, anchor=args.anchor, macros=macros,
                                          numeric=args.numeric)
    sys.stderr.write(stderr)
    sys.stderr.flush()
    sys.stdout.write(stdout)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
