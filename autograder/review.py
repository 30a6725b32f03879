"""The from-scratch rule, checked where the student cannot reach: a review of the student's code's
syntax tree, in the grader, with nothing executed.

The in-kernel recorders (``harness.py``) catch an honest ``F.batch_norm`` call,
but everything in the kernel is the student's to change: a call on a worker
thread, a disabled torch mode, an IPython input transformer that rewrites the
probe cell, an ATen kernel reached through ``torch.ops`` or by walking
``grad_fn`` nodes. This review reads the solution cells and the cells the
student added and names two kinds of construct:

* **evasions**, which no lab needs: torch's C internals and mode machinery,
  ``torch.ops``, walking autograd's graph, interpreter and IPython hooks,
  threads and processes, code built at run time. One inside a graded
  function (or anything it uses) costs that function's items; the hooks,
  threads and internals cost every rule-bound item wherever they appear.
* **the lab's library ops** (the checks' ``forbidden`` patterns), matched
  against the names the code reaches through torch's modules, however they
  were imported or aliased.

Each finding costs points only on items with ``enforce_rules``, and flags the
submission for the TA either way.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import nbformat

from autograder.checks.base import LabChecks

# (pattern over a dotted name, what it is, costs every rule-bound item wherever it appears)
_EVASIONS = [
    (r"(^|\.)_C(\.|$)", "torch._C (torch's C internals)", True),
    (r"^torch\.(ops|library)(\.|$)", "torch.ops (ATen kernels called directly)", False),
    (r"(^|\.)(overrides|_python_dispatch|_mode_utils)(\.|$)|TorchFunctionMode|TorchDispatchMode|"
     r"DisableTorchFunction|_disable_current_modes|_pop_mode|_push_mode|_set_torch_function_mode|"
     r"_len_torch_function_stack|_get_current_dispatch_mode", "torch's function and dispatch modes", True),
    (r"(^|\.)(grad_fn|next_functions|_saved_\w+|register_hook|register_prehook)$",
     "autograd's graph (grad_fn, next_functions, hooks)", False),
    (r"^(threading|_thread|concurrent|asyncio)(\.|$)", "threads", True),
    (r"^(multiprocessing|subprocess)(\.|$)|^os\.(fork|forkpty|spawn\w*|system|popen|exec\w*|posix_spawn\w*)$",
     "processes", False),
    (r"(^|\.)(input_transformers_cleanup|input_transformers_post|input_transformer_manager|ast_transformers|"
     r"register_magic_function|set_hook|run_cell|run_cell_async|transform_cell)$|(^|\.)events\.register$",
     "IPython input transformers or event hooks", True),
    (r"^sys\.(settrace|setprofile|addaudithook|meta_path|path_hooks|modules|_getframe)$|^(builtins|ctypes)(\.|$)|"
     r"^gc\.get_(objects|referrers|referents)$|^inspect\.(currentframe|stack|getouterframes)$|"
     r"(^|\.)(f_back|f_globals|f_locals|__builtins__|__globals__|__code__|__subclasses__)$",
     "interpreter internals", True),
    (r"^importlib(\.|$)", "modules imported by a computed name (importlib)", False),
    (r"^(exec|eval|compile|__import__)$", "code built at run time (exec, eval, compile, __import__)", True),
]
_MAGIC = re.compile(r"^\s*(%|!)")


@dataclass
class Review:
    """What the review found, by the top-level name it was found in ("" for code outside any function)."""

    found: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)   # name -> (construct, global?)
    uses: dict[str, set[str]] = field(default_factory=dict)                  # name -> top-level names it uses
    library: dict[str, set[str]] = field(default_factory=dict)               # name -> dotted torch names it reaches
    unreadable: list[str] = field(default_factory=list)

    def closure(self, name: str) -> set[str]:
        """``name`` and every top-level name it uses, transitively."""
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.uses.get(current, ()))
        return seen

    def everywhere(self) -> list[str]:
        """Constructs that cost every rule-bound item, wherever they appear."""
        return sorted({what for found in self.found.values() for what, anywhere in found if anywhere})

    def breaks(self, function: str, forbidden: str | None) -> list[str]:
        """Why ``function`` breaks the from-scratch rule: evasions in it or what it uses, and the
        lab's library ops it reaches (``forbidden``, a pattern over dotted names)."""
        names = self.closure(function)
        why = {what for name in names for what, _ in self.found.get(name, [])}
        if forbidden:
            why |= {f"{dotted} (the library op this lab asks you to write)" for name in names
                    for dotted in self.library.get(name, ()) if re.search(forbidden, dotted)}
        return sorted(why | set(self.everywhere()))

    def flags(self) -> list[str]:
        return [f"{what} in {name or 'code outside any function'}"
                for name, found in sorted(self.found.items()) for what in sorted({w for w, _ in found})]


def _source(cell) -> str:
    """A cell's Python, without IPython's magics and shell escapes (lines starting with % or !)."""
    return "\n".join("" if _MAGIC.match(line) else line for line in str(cell.get("source", "")).splitlines())


def _aliases(tree: ast.AST, into: dict[str, str]) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                into[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                into[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` resolved through the imports (``F.relu`` -> ``torch.nn.functional.relu``);
    ``getattr(a, "b")`` counts as ``a.b``. Names not imported stay as they are."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str):
            parts.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Name):
            parts.append(aliases.get(node.id, node.id))
            return ".".join(reversed(parts))
        else:
            return "." + ".".join(reversed(parts)) if parts else None


def _free_names(tree: ast.AST) -> set[str]:
    """The names ``tree`` reads but does not bind itself (its parameters and assignments): the
    top-level names a function uses, not its locals that share a name with one."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not tree:
            bound.add(node.name)
    return loaded - bound


def _constructs(tree: ast.AST, aliases: dict[str, str]) -> tuple[list[tuple[str, bool]], set[str], set[str]]:
    """(evasions, names used, dotted torch names reached) in ``tree``."""
    found, used, library = [], _free_names(tree), set()
    for node in ast.walk(tree):
        dotted = None
        if isinstance(node, (ast.Attribute, ast.Name)) or \
                (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"):
            dotted = _dotted(node, aliases)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found += [(what, anywhere) for pattern, what, anywhere in _EVASIONS if re.search(pattern, alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found += [(what, anywhere) for pattern, what, anywhere in _EVASIONS if re.search(pattern, name)]
                library.add(name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "vars") \
                and node.args and (_dotted(node.args[0], aliases) or "").startswith("torch") and \
                not (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
            found.append(("a torch attribute looked up by a computed name", False))
        if dotted:
            found += [(what, anywhere) for pattern, what, anywhere in _EVASIONS if re.search(pattern, dotted)]
            if dotted.startswith(("torch.", "torchvision.")):
                library.add(dotted)
                if dotted.endswith(".__dict__"):
                    found.append(("a torch module's namespace (__dict__)", False))
    return found, used, library


def review(nb: nbformat.NotebookNode, given_ids: set[str]) -> Review:
    """Review the student's code in ``nb`` (restored to the release's shape): the solution cells and
    the cells the student added; the given cells (``given_ids``) only lend their imports."""
    result, aliases = Review(), {}
    trees = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_source(cell))
        except (SyntaxError, ValueError):
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in given_ids:
                result.unreadable.append(f"cell {index + 1}")
            continue
        _aliases(tree, aliases)
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in given_ids:
            trees.append(tree)
    top_level: dict[str, list[ast.AST]] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                top_level.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)]
                for name in names:
                    top_level.setdefault(name, []).append(node)
                if not names:
                    top_level.setdefault("", []).append(node)
            else:
                top_level.setdefault("", []).append(node)
    for name, nodes in top_level.items():
        for node in nodes:
            found, used, library = _constructs(node, aliases)
            result.found.setdefault(name, []).extend(found)
            result.uses.setdefault(name, set()).update(used & set(top_level) - {name})
            result.library.setdefault(name, set()).update(library)
    result.found = {name: found for name, found in result.found.items() if found}
    return result


def rule_breaks(rev: Review, checks: LabChecks, functions: tuple[str, ...]) -> list[str]:
    """Why the functions of one item break the from-scratch rule (empty: they don't)."""
    return sorted({why for func in functions for why in rev.breaks(func, checks.forbidden.get(func))})
