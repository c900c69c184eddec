"""The import graph of the ganforge package and its layers.

    python tools/import_graph.py            # print violations (none expected) and the graph
    python tools/import_graph.py --write    # regenerate docs/architecture.md's diagram + PNG

Every import counts, including the lazy ones inside functions. A module may import modules of its
own layer or of lower ones, never of a higher one; tests/test_architecture.py enforces it.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ganforge"

# lowest first; a module belongs to the first layer with a matching prefix
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("errors", "registry", "cache", "checksums", "device", "config", "data", "models", "losses")),
    ("generation", ("generation",)),
    ("metrics", ("metrics", "evaluation")),
    ("training", ("training",)),
    ("api", ("api", "__init__")),
    ("tools", ("latent", "report", "sweep")),
    ("cli", ("cli", "__main__")),
]
LAYER_INDEX = {name: i for i, (name, _) in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    raise KeyError(f"module '{module}' is in no layer: add it to tools/import_graph.py LAYERS")


def imports_of(path: Path) -> set[str]:
    """ganforge modules imported anywhere in `path` (relative to the package, e.g. 'data.loader')."""
    tree = ast.parse(path.read_text())
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ganforge"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1] if node.level > 1 else package
                base = ".".join(["ganforge", *anchor, *([base] if base else [])])
            if not base.startswith("ganforge"):
                continue
            for alias in node.names:  # `from ganforge import api` imports the module ganforge.api
                candidate = f"{base}.{alias.name}"
                found.add(candidate if is_module(candidate) else base)
    return {strip(m) for m in found} - {""}


def strip(module: str) -> str:
    return module[len("ganforge."):] if module.startswith("ganforge.") else "__init__"


def is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative).is_dir()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) - {module_name(p)}
            for p in sorted(PACKAGE.rglob("*.py"))}


def violations(edges: dict[str, set[str]] | None = None) -> list[str]:
    edges = graph() if edges is None else edges
    found = []
    for module, targets in edges.items():
        for target in sorted(targets):
            if LAYER_INDEX[layer_of(target)] > LAYER_INDEX[layer_of(module)]:
                found.append(f"{module} ({layer_of(module)}) imports {target} "
                             f"({layer_of(target)}), a higher layer")
    return found


def package_cycles(edges: dict[str, set[str]] | None = None) -> list[list[str]]:
    """Cycles between top-level parts (data, metrics, latent, …): parts of one layer may use each
    other one way only."""
    edges = graph() if edges is None else edges
    top = {}
    for module, targets in edges.items():
        top.setdefault(module.split(".")[0], set()).update(t.split(".")[0] for t in targets)
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(top.get(node, set()) - {node}):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(top):
        if node not in state:
            visit(node, [node])
    return cycles


def part_edges() -> dict[str, set[str]]:
    """Edges between the parts shown in the diagram (packages, or top-level modules)."""
    parts: dict[str, set[str]] = {}
    for module, targets in graph().items():
        part = module.split(".")[0]
        parts.setdefault(part, set()).update(t.split(".")[0] for t in targets if
                                             t.split(".")[0] != part)
    return parts


def mermaid() -> str:
    edges = part_edges()
    lines = ["flowchart BT"]
    for name, _ in LAYERS:
        members = [p for p in sorted(edges) if layer_of(p) == name]
        lines.append(f'  subgraph {name}["{name}"]')
        lines += [f"    {node_id(p)}[\"{label(p)}\"]" for p in members]
        lines.append("  end")
    for source in sorted(edges):
        for target in sorted(edges[source]):
            lines.append(f"  {node_id(source)} --> {node_id(target)}")
    return "\n".join(lines)


def node_id(part: str) -> str:
    return re.sub(r"\W", "_", part)


def label(part: str) -> str:
    return "ganforge (package)" if part == "__init__" else part


def draw_png(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = part_edges()
    rows = [[p for p in sorted(edges) if layer_of(p) == name] for name, _ in LAYERS]
    position = {}
    for y, members in enumerate(rows):
        for x, part in enumerate(members):
            position[part] = ((x + 0.5) / len(members), y)
    fig, axis = plt.subplots(figsize=(10, 6.5))
    for source, targets in edges.items():
        for target in targets:
            (x0, y0), (x1, y1) = position[source], position[target]
            axis.annotate("", xy=(x1, y1 + 0.18), xytext=(x0, y0 - 0.18),
                          arrowprops=dict(arrowstyle="->", color="0.6", lw=0.7))
    for part, (x, y) in position.items():
        axis.text(x, y, label(part), ha="center", va="center", fontsize=9,
                  bbox=dict(boxstyle="round", fc="#e8f0fe", ec="#4a6fa5"))
    for y, (name, _) in enumerate(LAYERS):
        axis.text(-0.08, y, name, ha="right", va="center", fontsize=10, weight="bold")
    axis.set(xlim=(-0.25, 1.02), ylim=(-0.6, len(LAYERS) - 0.4))
    axis.axis("off")
    axis.set_title("ganforge layers: arrows point from a part to what it imports (always down)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


BEGIN, END = "<!-- import-graph:begin -->", "<!-- import-graph:end -->"


def generated_block() -> str:
    return f"{BEGIN}\n```mermaid\n{mermaid()}\n```\n{END}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="update docs/architecture.md and docs/architecture.png")
    args = parser.parse_args()
    problems = violations() + [" → ".join(c) + " (cycle)" for c in package_cycles()]
    print("\n".join(problems) or "no upward imports, no cycles between parts")
    if args.write:
        doc = ROOT / "docs" / "architecture.md"
        text = doc.read_text()
        start, end = text.index(BEGIN), text.index(END) + len(END)
        doc.write_text(text[:start] + generated_block() + text[end:])
        draw_png(ROOT / "docs" / "architecture.png")
        print(f"wrote {doc} and docs/architecture.png")
    else:
        print(mermaid())


if __name__ == "__main__":
    main()
