"""`tinygrad-sm explain`: build a scalar expression, show its forward values and a narrated backward.

    tinygrad-sm explain "(x + y) * z" --vars x=-2,y=5,z=-4
    python -m tinygrad_sm.explain "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))" \\
        --vars w0=2,x0=-1,w1=-3,x1=-2,w2=-3 --draw sigmoid.svg

The expression is parsed with Python's `ast` and only a whitelist is evaluated: numbers,
the variables given with --vars, + - * / **, unary - and +, and calls to the functions in
FUNCTIONS. Anything else (attributes, subscripts, comprehensions, other names) is refused
before anything runs. Every variable becomes a float64 scalar leaf named after it; every
subexpression becomes one gate, so the narration follows the expression as written.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import io
import itertools
import json
import keyword
import math
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, TextIO

import numpy as np

from . import functional as F
from ._files import write_text
from .tensor import Tensor
from .viz import Trace, draw, json_safe, summarize, to_dot, trace_backward

MAX_LENGTH = 2000
"""The longest expression explain() parses, in characters (deep nesting, huge inputs are refused)."""

FUNCTIONS: dict[str, tuple[int, Callable[..., Tensor]]] = {
    "exp": (1, F.exp), "log": (1, F.log), "sqrt": (1, F.sqrt), "abs": (1, lambda a: a.abs()),
    "sigmoid": (1, F.sigmoid), "tanh": (1, F.tanh), "relu": (1, F.relu),
    "max": (2, F.maximum), "maximum": (2, F.maximum), "min": (2, F.minimum), "minimum": (2, F.minimum),
}
"""The functions an expression may call: name -> (number of arguments, the op on tensors)."""
_BINARY: dict[type, Callable[[Tensor, Tensor], Tensor]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class ExplainError(ValueError):
    """An expression or --vars value that explain refuses, with the reason and the place."""


def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f" at column {col + 1}" if col is not None else ""


@dataclass
class Step:
    """One subexpression evaluated in the forward pass."""

    text: str
    op: str
    value: float
    tensor: Tensor


def _check(node: ast.AST, variables: Sequence[str]) -> None:
    """Refuse anything outside the whitelist, before any of it is evaluated."""
    if isinstance(node, ast.Expression):
        return _check(node.body, variables)
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ExplainError(f"explain: only numbers are allowed as constants, got {v!r}{_where(node)}")
        return None
    if isinstance(node, ast.Name):
        if node.id in variables:
            return None
        if node.id in FUNCTIONS:
            raise ExplainError(f"explain: {node.id} is a function; call it, e.g. {node.id}(x){_where(node)}")
        raise ExplainError(f"explain: unknown name {node.id!r}{_where(node)}; the variables from --vars are: "
                           + (", ".join(variables) or "none"))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _check(node.operand, variables)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, variables)
        return _check(node.right, variables)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExplainError(f"explain: call to {ast.unparse(node.func)!r}{_where(node)} is not allowed; "
                               "the functions are: " + ", ".join(FUNCTIONS))
        arity = FUNCTIONS[node.func.id][0]
        if node.keywords or len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExplainError(f"explain: {node.func.id}() takes {arity} positional argument(s){_where(node)}, "
                               f"got {ast.unparse(node)!r}")
        for a in node.args:
            _check(a, variables)
        return None
    raise ExplainError(f"explain: {type(node).__name__} ({ast.unparse(node)!r}){_where(node)} is not allowed; "
                       "use numbers, the --vars variables, + - * / **, unary - and +, and the functions "
                       + ", ".join(FUNCTIONS))


class _Evaluator:
    """Builds the graph from a checked AST, one gate per operator or call."""

    def __init__(self, variables: dict[str, Tensor]) -> None:
        self.variables = variables
        self.steps: list[Step] = []

    def eval(self, node: ast.AST) -> Tensor:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            # A float64 tensor at once: Python ints would let 9**9**9 run for ever.
            try:
                return Tensor(np.float64(node.value), dtype="float64")
            except OverflowError:
                raise ExplainError(f"explain: the number {node.value}{_where(node)} is too large for float64") from None
        if isinstance(node, ast.Name):
            return self.variables[node.id]
        if isinstance(node, ast.UnaryOp):
            a = self.eval(node.operand)
            return a if isinstance(node.op, ast.UAdd) else self._record(node, "neg", [a], -a)
        if isinstance(node, ast.BinOp):
            a, b = self.eval(node.left), self.eval(node.right)
            if isinstance(node.op, ast.Pow) and not b.requires_grad:
                # a constant exponent: the power rule gate, not the general a**b one
                return self._record(node, "**", [a], a ** float(b.item()))
            return self._record(node, _SYMBOL[type(node.op)], [a, b], _BINARY[type(node.op)](a, b))
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # _check let nothing else by
        args = [self.eval(a) for a in node.args]
        return self._record(node, node.func.id, args, FUNCTIONS[node.func.id][1](*args))

    def _record(self, node: ast.AST, op: str, inputs: list[Tensor], out: Tensor) -> Tensor:
        if out.grad_fn is None:  # constants only (e.g. -1): folded, not a gate
            return out
        text = ast.unparse(node)
        out.name = text
        try:  # hand viz the exact input values, constants included (see viz's docstring)
            out.grad_fn.viz_inputs = tuple(t.data for t in inputs)
            out.grad_fn.viz_output = out.data
        except AttributeError:  # a gate that refuses new attributes: viz recomputes instead
            pass
        self.steps.append(Step(text, op, float(out.item()), out))
        return out


def parse_vars(specs: Sequence[str]) -> dict[str, float]:
    """'x=-2,y=5' (possibly several such strings) -> {'x': -2.0, 'y': 5.0}."""
    out: dict[str, float] = {}
    for spec in specs:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, eq, value = item.partition("=")
            name = unicodedata.normalize("NFKC", name.strip())  # (as Python's parser reads names)
            if not eq or not name.isidentifier():
                raise ExplainError(f"explain: --vars needs name=value pairs separated by commas, got {item!r}")
            if keyword.iskeyword(name):
                raise ExplainError(f"explain: --vars {name}: {name} is a Python keyword, which an expression "
                                   "cannot use as a name; pick another (lam for lambda)")
            if name in FUNCTIONS:
                raise ExplainError(f"explain: --vars {name}: {name} is the name of a function; pick another name")
            if name in out:
                raise ExplainError(f"explain: --vars gives {name} twice")
            try:
                v = float(value)
            except ValueError:
                raise ExplainError(f"explain: --vars {name}={value!r}: not a number") from None
            if not math.isfinite(v):
                raise ExplainError(f"explain: --vars {name}={value}: the value must be finite")
            out[name] = v
    return out


@dataclass
class Explained:
    """What explain() built: the output, the variables, the forward steps and the trace."""

    expr: str
    output: Tensor
    variables: dict[str, Tensor]
    steps: list[Step]
    trace: Trace

    @property
    def grads(self) -> dict[str, float]:
        """df/dv for every variable (0 for a variable the expression does not use)."""
        return {n: float(t.grad.item()) if t.grad is not None else 0.0 for n, t in self.variables.items()}

    def to_dict(self) -> dict[str, Any]:
        """The expression, its variables, its value, each step and the gradients, as plain data."""
        return {"expr": self.expr, "vars": {n: float(t.item()) for n, t in self.variables.items()},
                "value": float(self.output.item()),
                "forward": [{"expr": s.text, "op": s.op, "value": s.value} for s in self.steps],
                "backward": self.trace.to_dict()["steps"], "grads": self.grads}

    def tensors(self) -> list[Tensor]:
        """The tensor of every step (named by its sub-expression), e.g. for viz.to_dot(tensors=...)."""
        return [s.tensor for s in self.steps]


@contextlib.contextmanager
def _deep_enough() -> Any:
    """Room on the Python stack for any expression of MAX_LENGTH characters: checking, evaluating
    and printing walk the tree recursively, and a flat sum of n terms is a tree n deep (`x+x+x`
    is `(x+x)+x`), which the default limit of 1000 frames stopped at about 400 terms."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 4 * MAX_LENGTH + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _has_expression(ap: argparse.ArgumentParser, argv: list[str]) -> bool:
    """Whether argparse finds the expression in argv (whatever else it refuses)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return ap.parse_known_args(argv)[0].expr is not None
    except SystemExit:
        return False


def parse(expr: str, variables: Sequence[str]) -> ast.Expression:
    """Parse `expr` and check it against the whitelist (and the variable names); evaluates nothing."""
    if len(expr) > MAX_LENGTH:
        raise ExplainError(f"explain: the expression is {len(expr)} characters long; the limit is {MAX_LENGTH}")
    if not expr.strip():
        raise ExplainError("explain: the expression is empty")
    lead = len(expr) - len(expr.lstrip())  # (stripped for the parser; columns count from expr)
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        col = (e.offset or 0) + (lead if e.lineno in (None, 1) else 0)
        raise ExplainError(f"explain: not a valid expression: {e.msg} at column {col}") from None
    except (RecursionError, MemoryError):
        raise ExplainError("explain: the expression is nested too deeply") from None
    if lead:
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) == 1:
                node.col_offset += lead
    try:
        with _deep_enough():
            _check(tree, variables)
    except RecursionError:
        raise ExplainError("explain: the expression is nested too deeply") from None
    return tree


def explain(expr: str, variables: dict[str, float], *, echo: bool = False,
            out: Optional[TextIO] = None) -> Explained:
    """Evaluate `expr` at `variables` (float64 scalars) and run a narrated backward pass.

    Raises ExplainError for anything outside the whitelist. echo=True prints the narration
    to `out` (default stdout) as it runs; it is in the returned `.trace` either way.
    """
    tree = parse(expr, list(variables))
    leaves = {n: Tensor(v, dtype="float64", requires_grad=True, name=n) for n, v in variables.items()}
    ev = _Evaluator(leaves)
    try:
        with np.errstate(all="ignore"), _deep_enough():  # inf and nan show up in the values; no warnings
            f = ev.eval(tree)
    except RecursionError:
        raise ExplainError("explain: the expression is nested too deeply") from None
    if not f.requires_grad:
        raise ExplainError(f"explain: {expr!r} does not depend on any variable from --vars "
                           f"({', '.join(variables) or 'none given'}), so there is nothing to differentiate")
    if f.grad_fn is None:  # the expression is a bare variable: give the output a gate of its own
        f = f + 0.0
    # df/dx reads best; never clash with a variable
    f.name = next(n for n in itertools.chain(("f", "out"), (f"out{i}" for i in itertools.count(2)))
                  if n not in variables)
    with np.errstate(all="ignore"):
        trace = trace_backward(f, tensors=[s.tensor for s in ev.steps], echo=echo, file=out)
    return Explained(expr, f, leaves, ev.steps, trace)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line (argv without the program name); returns the exit status:
    0 done, 1 the picture could not be written, 2 bad input."""
    ap = argparse.ArgumentParser(
        prog="tinygrad-sm explain",
        description="Evaluate a scalar expression, then narrate its backward pass gate by gate.",
        epilog='example: tinygrad-sm explain "(x + y) * z" --vars x=-2,y=5,z=-4   (an expression that '
               'starts with "-": put it last, after --, e.g. --vars x=1 -- "-x")')
    ap.add_argument("expr", help="the expression, e.g. '1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))'; functions: "
                    + ", ".join(FUNCTIONS))
    ap.add_argument("--vars", action="append", default=[], metavar="x=1,y=2",
                    help="the variables' values (comma-separated, may be repeated)")
    ap.add_argument("--dot", metavar="PATH", help="write the graph (values and gradients) as Graphviz DOT")
    ap.add_argument("--draw", metavar="PATH", help="render the graph to PATH (.svg, .png, .pdf; needs Graphviz, "
                    "else a .dot is written)")
    ap.add_argument("--json", action="store_true", help="print structured records (JSON) instead of text")
    argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error argparse already printed
        code = int(e.code or 0) if not isinstance(e.code, str) else 2
        options = {"-h", "--help", "--vars", "--dot", "--draw", "--json"}
        dashed = [a for a in argv if a.startswith("-") and a.split("=")[0] not in options and a != "--"]
        if code and dashed and not _has_expression(ap, argv):  # (argparse took it for an option)
            print(f'tinygrad-sm explain: {dashed[0]!r} starts with "-", so it reads as an option: put the '
                  f'expression last, after --, e.g. tinygrad-sm explain --vars x=1,y=2 -- "{dashed[0]}"',
                  file=sys.stderr)
        return code
    try:
        variables = parse_vars(args.vars)
        ex = explain(args.expr, variables)
    except ExplainError as e:
        print(f"tinygrad-sm explain: error: {str(e).removeprefix('explain: ')}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(json_safe(ex.to_dict()), indent=2, allow_nan=False))
    else:
        _print_text(ex)
    for path, render in ((args.dot, False), (args.draw, True)):
        if path:
            kw = dict(show_grad=True, trace=ex.trace, tensors=ex.tensors())
            try:
                if render:
                    written = draw(ex.output, path, **kw)
                else:
                    write_text(path, to_dot(ex.output, **kw))  # (an old file stays whole if to_dot fails)
                    written = path
            except (OSError, ValueError, RuntimeError) as e:
                print(f"tinygrad-sm explain: error: {e}", file=sys.stderr)
                return 1
            print(f"graph written to {written}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _print_text(ex: Explained) -> None:
    given = ", ".join(f"{n} = {summarize(t.data, digits=6)}" for n, t in ex.variables.items())
    name = ex.output.name
    print(f"{name} = {ex.expr}   at {given}\n\nforward")
    width = max([len(s.text) for s in ex.steps] + [1])
    for s in ex.steps:
        print(f"  {s.text:<{width}}  = {s.value:.6g}")
    print(f"  {name} = {ex.output.item():.6g}\n\nbackward, gate by gate")
    print(ex.trace.text())
    print("\ngradients")
    for n, g in ex.grads.items():
        print(f"  d{name}/d{n} = {g:.6g}")


if __name__ == "__main__":
    sys.exit(main())
