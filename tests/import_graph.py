"""goalax's own import graph, read from the source (``ast``): which module imports which, at the
top of the file or inside a function, leaving out ``if TYPE_CHECKING:`` blocks."""

from __future__ import annotations

import ast
import dataclasses
import functools
import os

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


@dataclasses.dataclass(frozen=True)
class Edge:
  source: str
  target: str
  local: bool  # inside a function (imported when called)
  line: int


def modules() -> dict[str, str]:
  """``{dotted module name: path}`` of every module under src/goalax."""
  out = {}
  for dirpath, _, files in os.walk(os.path.join(SRC, "goalax")):
    for f in files:
      if f.endswith(".py"):
        path = os.path.join(dirpath, f)
        name = os.path.relpath(path, SRC)[:-3].replace(os.sep, ".")
        out[name.removesuffix(".__init__")] = path
  return out


def _type_checking(node: ast.AST) -> bool:
  test = getattr(node, "test", None)
  return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test)


@functools.cache
def edges() -> list[Edge]:
  known, out = modules(), []

  def visit(source: str, node: ast.AST, local: bool):
    for child in ast.iter_child_nodes(node):
      if _type_checking(child):
        continue
      inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
      if isinstance(child, ast.Import):
        for alias in child.names:
          if alias.name in known:
            out.append(Edge(source, alias.name, inner, child.lineno))
      elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("goalax"):
        for alias in child.names:
          sub = f"{child.module}.{alias.name}"
          target = sub if sub in known else child.module
          out.append(Edge(source, target, inner, child.lineno))
      visit(source, child, inner)

  for name, path in modules().items():
    with open(path) as f:
      visit(name, ast.parse(f.read()), False)
  return out


def cycles(graph_edges: list[Edge]) -> list[list[str]]:
  """Every import circle (strongly connected component of more than one module, or a module
  importing itself), as a sorted list of its modules."""
  graph: dict[str, set[str]] = {}
  for e in graph_edges:
    graph.setdefault(e.source, set()).add(e.target)
  index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

  def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in graph.get(v, ()):
      if w not in index:
        strong(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      group = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        group.append(w)
        if w == v:
          break
      if len(group) > 1 or v in graph.get(v, ()):
        out.append(sorted(group))

  for v in list(graph):
    if v not in index:
      strong(v)
  return out
