"""The package's layers, checked on its source: imports go downward only, and only the ABI, the
device, the pf library and the simulator (which plays the kernel) touch ctypes or issue ioctls."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pf_exporter"

# Bottom to top (docs/architecture.md); a unit may import only units of a lower rank.
RANKS = {
    "abi": 1, "errors": 1,  # pure data
    "device": 2, "openbsd": 2, "privsep": 2, "ruleset": 2,  # the kernel handle, the OS, the pf.conf language
    "guard": 2, "webconfig": 2, "httpcheck": 2,  # the HTTP listeners' connection guard and web config (no pf at all)
    "simulator": 3,  # pf behind the same interface as the device
    "pf": 4,  # the library
    "collectors": 5, "ctl": 5,  # the collectors and the pfctl-like command, on the library
    "exporter": 6, "exposition": 6, "logsetup": 6, "runbooks": 6,
    "process": 5,  # the process_* metrics (no pf)
    "web": 7,
    "admin": 8,
    "cli": 9,  # the composition root
    "docs": 10,  # the reference pages, generated from everything
    "__main__": 10, "__init__": 0, "__version__": 0,
}
# Who may import ctypes / fcntl or call ioctl, and why.
LOW_LEVEL = {
    "abi": "declares the kernel's structs",
    "device": "owns the /dev/pf descriptor: the one fcntl.ioctl",
    "pf": "the library: encodes and decodes the structs, the one access layer",
    "simulator": "plays the kernel: answers with the structs' bytes",
    "openbsd": "unveil(2)/pledge(2) through libc",
    "privsep": "prctl(2) through libc on Linux (no_new_privs, the capability bounding set)",
}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for p in sorted(PACKAGE.rglob("*.py")):
        rel = p.relative_to(PACKAGE.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), p))
    return out


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip |= {id(n) for n in ast.walk(node)}
    return skip


def _imports(module: str, path: Path, *, runtime_only: bool = False) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    tree = ast.parse(path.read_text())
    skip = _type_checking_blocks(tree) if runtime_only else set()
    for node in ast.walk(tree):  # lazy imports inside functions count too
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("pf_exporter"):
                out |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("pf_exporter")}
    return out


def test_every_unit_has_a_layer() -> None:
    assert {_unit(m) for m, _ in _modules()} <= set(RANKS)


def test_imports_go_downward_only() -> None:
    wrong = []
    for module, path in _modules():
        here = _unit(module)
        for target in _imports(module, path):
            there = _unit(target)
            if there != here and RANKS[there] >= RANKS[here] and RANKS[there] != 0:
                wrong.append(f"{module} imports {target} ({here} {RANKS[here]} -> {there} {RANKS[there]})")
    assert wrong == []


_LOW = re.compile(r"^\s*(import ctypes|from ctypes|import fcntl|from fcntl)|\bfcntl\.ioctl\(|\.ioctl\(", re.M)


def test_only_the_abi_device_library_and_simulator_touch_ctypes_or_ioctl() -> None:
    offenders = sorted(f"{module}: {m.group(0).strip()}" for module, path in _modules()
                       if _unit(module) not in LOW_LEVEL for m in _LOW.finditer(path.read_text()))
    assert offenders == []


def test_only_the_device_calls_fcntl_ioctl() -> None:
    callers = sorted(module for module, path in _modules() if "fcntl.ioctl(" in path.read_text())
    assert callers == ["pf_exporter.device"]


def test_collectors_admin_and_cli_reach_pf_only_through_the_library() -> None:
    below = ("pf_exporter.device", "pf_exporter.simulator", "pf_exporter.pf._", "pf_exporter.pf.backend")
    wrong = []
    for module, path in _modules():
        if _unit(module) in ("collectors", "admin", "exporter", "web"):
            wrong += [f"{module} imports {t}" for t in _imports(module, path) if t.startswith(below)]
    assert wrong == []


def _resolve(target: str, modules: set[str]) -> str | None:
    """The module an import names: ``pkg.mod`` itself, or ``pkg`` for ``from pkg import name``."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def test_no_module_imports_itself_through_others() -> None:
    """No circle between modules, inside packages too (imports under TYPE_CHECKING, for annotations
    only, excepted).  A package's __init__ importing its own modules is not a circle."""
    mods = dict(_modules())
    graph: dict[str, set[str]] = {}
    for module, path in mods.items():
        deps = {_resolve(t, set(mods)) for t in _imports(module, path, runtime_only=True)}
        graph[module] = {d for d in deps if d and d != module and not module.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_every_module_is_under_800_lines() -> None:
    """A module that grows past ~800 lines holds two concerns (the ABI's generated constants excepted)."""
    generated = {"pf_exporter.abi.constants"}
    long = {m: n for m, p in _modules() if m not in generated and (n := len(p.read_text().splitlines())) > 800}
    root = Path(__file__).resolve().parent.parent
    for directory in ("benchmarks", "dashboards", "tests"):  # the scripts and the tests too
        for path in (root / directory).rglob("*.py"):
            if (n := len(path.read_text().splitlines())) > 800:
                long[str(path.relative_to(root))] = n
    assert long == {}


def test_every_type_ignore_names_its_error_and_says_why() -> None:
    """``# type: ignore[code]  # reason``: mypy checks the code is still needed (warn_unused_ignores),
    this the reason is written beside it."""
    bare = []
    for module, path in _modules():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "type: ignore" in line and not re.search(r"# type: ignore\[[\w,-]+\]\s+#\s*\S", line):
                bare.append(f"{module}:{n}: {line.strip()}")
    assert bare == []
