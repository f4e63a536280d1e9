"""tinygrad_sm.explain: the safe expression parser and the `tinygrad-sm explain` command."""
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_sm import explain as E

CIRCUIT = "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))"


def sigmoid_circuit_by_hand(w0, x0, w1, x1, w2):
    """The CS231n derivation: s = w.x + w2, f = sigma(s), df/ds = f (1 - f)."""
    f = 1 / (1 + math.exp(-(w0 * x0 + w1 * x1 + w2)))
    ds = f * (1 - f)
    return f, {"w0": x0 * ds, "x0": w0 * ds, "w1": x1 * ds, "x1": w1 * ds, "w2": ds}


def test_cs231n_add_mul_circuit():
    ex = E.explain("(x + y) * z", {"x": -2.0, "y": 5.0, "z": -4.0})
    assert ex.output.item() == -12.0
    assert ex.grads == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert [(s.text, s.value) for s in ex.steps] == [("x + y", 3.0), ("(x + y) * z", -12.0)]
    assert [r.op for r in ex.trace] == ["Mul", "Add"]


@pytest.mark.parametrize("point", [
    dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0),  # the lecture's numbers
    dict(w0=0.5, x0=1.5, w1=-0.25, x1=3.0, w2=0.1),
    dict(w0=-1.2, x0=-0.7, w1=2.2, x1=0.4, w2=-2.0),
])
@pytest.mark.parametrize("expr", [CIRCUIT, "sigmoid(w0*x0 + w1*x1 + w2)"])
def test_sigmoid_circuit_matches_the_hand_derivation(expr, point):
    f, grads = sigmoid_circuit_by_hand(**point)
    ex = E.explain(expr, point)
    assert ex.output.item() == pytest.approx(f, rel=1e-14)
    for name, g in grads.items():
        assert ex.grads[name] == pytest.approx(g, rel=1e-12, abs=1e-15), name


def test_the_lecture_values_of_the_sigmoid_circuit():
    ex = E.explain(CIRCUIT, dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0))
    rounded = {k: round(v, 2) for k, v in ex.grads.items()}
    assert rounded == {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}
    ops = [r.op for r in ex.trace]
    assert ops == ["Div", "Add", "Exp", "Neg", "Add", "Add", "Mul", "Mul"]
    div = ex.trace[0]
    assert div.inputs[0].kind == "constant" and div.inputs[0].value == 1.0  # explain records constants


@pytest.mark.parametrize("expr, at, want", [
    ("x * x", {"x": 3.0}, {"x": 6.0}),  # a variable used twice gets both gradients
    ("x ** 3 + 2 * x", {"x": -2.0}, {"x": 14.0}),
    ("max(x, y)", {"x": 1.0, "y": 4.0}, {"x": 0.0, "y": 1.0}),  # max routes
    ("min(x, y) + relu(x)", {"x": 1.0, "y": 4.0}, {"x": 2.0, "y": 0.0}),
    ("relu(x - 5)", {"x": 1.0}, {"x": 0.0}),  # ReLU gates
    ("log(x) + sqrt(x) + abs(-x)", {"x": 4.0}, {"x": 0.25 + 0.25 + 1.0}),
    ("tanh(x) / y", {"x": 0.5, "y": 2.0}, {"x": (1 - math.tanh(0.5) ** 2) / 2,
                                           "y": -math.tanh(0.5) / 4}),
    ("x ** y", {"x": 2.0, "y": 3.0}, {"x": 12.0, "y": 8 * math.log(2)}),
    ("+x - -y", {"x": 1.0, "y": 2.0, "unused": 7.0}, {"x": 1.0, "y": 1.0, "unused": 0.0}),
    ("x", {"x": 1.5}, {"x": 1.0}),
])
def test_hand_checkable_expressions(expr, at, want):
    ex = E.explain(expr, at)
    assert ex.grads == pytest.approx(want, rel=1e-13)


def test_a_variable_named_f_does_not_clash_with_the_output(capsys):
    assert E.main(["f * 2", "--vars", "f=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("out = f * 2") and "  dout/df = 2\n" in out


def test_constant_exponent_uses_the_power_rule_gate():
    ex = E.explain("x ** (1 + 1)", {"x": 3.0})
    assert [r.op for r in ex.trace] == ["PowScalar"] and "c = 2" in ex.trace[0].rule


@pytest.mark.parametrize("expr, message", [
    ("x.__class__", r"Attribute \('x.__class__'\) at column 1 is not allowed"),
    ("__import__('os').system('true')", r"call to \"__import__\('os'\).system\" at column 1 is not allowed"),
    ("__import__('os')", r"call to '__import__' at column 1 is not allowed"),
    ("q + 1", r"unknown name 'q' at column 1; the variables from --vars are: x, y"),
    ("x[0]", r"Subscript"),
    ("(lambda: 1)()", r"call to 'lambda: 1'"),
    ("[x for x in y]", r"ListComp"),
    ("x if y else 1", r"IfExp"),
    ("x < y", r"Compare"),
    ("x @ y", r"BinOp \('x @ y'\)"),
    ("x // y", r"BinOp"),
    ("'abc'", r"only numbers are allowed as constants, got 'abc'"),
    ("True * x", r"only numbers .* got True"),
    ("1j * x", r"only numbers .* got 1j"),
    ("exp(x, y)", r"exp\(\) takes 1 positional argument\(s\) at column 1, got 'exp\(x, y\)'"),
    ("max(x)", r"max\(\) takes 2 positional"),
    ("exp(x=1)", r"exp\(\) takes 1 positional"),
    ("exp(*x)", r"exp\(\) takes 1 positional"),
    ("exp", r"exp is a function; call it"),
    ("x(y)", r"call to 'x'"),
    ("x +", r"not a valid expression"),
    ("x; import os", r"not a valid expression"),
    ("2 + 3", r"does not depend on any variable"),
    ("1e999999 * x", None),  # float('inf') is a float: allowed, gives inf
])
def test_parser_refuses_unsafe_or_unknown_input(expr, message):
    if message is None:
        assert math.isinf(E.explain(expr, {"x": 1.0, "y": 2.0}).output.item())
        return
    with pytest.raises(E.ExplainError, match=message):
        E.explain(expr, {"x": 1.0, "y": 2.0})


def test_nothing_runs_before_the_whole_expression_is_checked(monkeypatch):
    calls = []
    monkeypatch.setitem(E.FUNCTIONS, "exp", (1, lambda a: calls.append(a) or a))
    with pytest.raises(E.ExplainError, match="Attribute"):
        E.explain("exp(x) + x.__class__", {"x": 1.0})
    assert calls == []


def test_limits_on_size_and_depth():
    with pytest.raises(E.ExplainError, match="the limit is 2000"):
        E.explain("x + " * 600 + "x", {"x": 1.0})
    for deep in ("-" * 1500 + "x", "(" * 300 + "x" + ")" * 300):
        try:
            E.explain(deep, {"x": 1.0})
        except E.ExplainError as e:
            assert "nested" in str(e) or "not a valid expression" in str(e)
    # huge powers stay float64: overflow to inf, quickly, instead of a giant Python integer
    assert E.explain("9 ** 9 ** 9 ** 9 * x", {"x": 1.0}).output.item() == math.inf
    with pytest.raises(E.ExplainError, match="too large for float64"):
        E.explain("1" + "0" * 400 + " * x", {"x": 1.0})


@pytest.mark.parametrize("spec, message", [
    (["x"], "name=value pairs"),
    (["x=1,2y=3"], "name=value pairs"),
    (["x=abc"], r"x='abc': not a number"),
    (["x=nan"], "must be finite"),
    (["x=1", "x=2"], "gives x twice"),
    (["exp=1"], "name of a function"),
])
def test_bad_vars(spec, message):
    with pytest.raises(E.ExplainError, match=message):
        E.parse_vars(spec)


def test_vars_may_be_split_and_repeated():
    assert E.parse_vars(["x=-2, y=5", "z=-4e0"]) == {"x": -2.0, "y": 5.0, "z": -4.0}


# ------------------------------------------------------------------------------------------------
# main(argv): what `tinygrad-sm explain ...` runs
# ------------------------------------------------------------------------------------------------
def test_main_prints_forward_values_narration_and_gradients(capsys):
    assert E.main(["(x + y) * z", "--vars", "x=-2,y=5,z=-4"]) == 0
    out = capsys.readouterr().out
    assert "x + y        = 3" in out and "f = -12" in out
    assert "[1] Mul -> f = -12" in out and "mul swaps" in out and "add distributes" in out
    for line in ("df/dx = -4", "df/dy = -4", "df/dz = 3"):
        assert f"  {line}\n" in out


def test_main_json(capsys):
    assert E.main([CIRCUIT, "--vars", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    _, grads = sigmoid_circuit_by_hand(2.0, -1.0, -3.0, -2.0, -3.0)
    assert d["grads"] == pytest.approx(grads, rel=1e-12)
    assert d["value"] == pytest.approx(0.7310585786300049)
    assert [s["op"] for s in d["backward"]] == ["Div", "Add", "Exp", "Neg", "Add", "Add", "Mul", "Mul"]
    assert d["forward"][0] == {"expr": "w0 * x0", "op": "*", "value": -2.0}
    assert d["backward"][0]["inputs"][0] == {"index": 0, "kind": "constant", "label": "constant", "shape": [],
                                            "dtype": "float64", "value": 1.0, "grad": None}


def test_main_bad_input_exits_2_with_a_clear_message(capsys):
    assert E.main(["os.system('x')", "--vars", "x=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-sm explain: error: call to 'os.system'")
    assert E.main(["x", "--vars", "x=one"]) == 2
    assert "x='one': not a number" in capsys.readouterr().err


def test_main_usage_errors_and_help_return_a_status(capsys):
    assert E.main([]) == 2 and "required: expr" in capsys.readouterr().err
    assert E.main(["x", "--nope"]) == 2
    assert E.main(["--help"]) == 0 and "--vars" in capsys.readouterr().out


def test_main_writes_dot(tmp_path, capsys):
    path = tmp_path / "c.dot"
    assert E.main(["(x + y) * z", "--vars", "x=-2,y=5,z=-4", "--dot", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("digraph") and 'label="grad -4"' in text and "Add: x + y" in text


def test_main_draw_falls_back_to_dot_without_graphviz(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tinygrad_sm.viz.shutil.which", lambda name: None)
    assert E.main(["x * y", "--vars", "x=1,y=2", "--draw", str(tmp_path / "g.svg")]) == 0
    assert (tmp_path / "g.dot").exists() and "dot -Tsvg" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot program is not installed (apt-get install graphviz)")
def test_command_line_module_draws_svg(tmp_path):
    path = tmp_path / "sig.svg"
    done = subprocess.run([sys.executable, "-m", "tinygrad_sm.explain", CIRCUIT, "--vars",
                           "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--draw", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "df/dx0 = 0.393224" in done.stdout and "<svg" in path.read_text()


def test_the_output_name_avoids_f_and_out_when_both_are_variables(capsys):
    assert E.main(["f * out", "--vars", "f=2,out=3"]) == 0
    text = capsys.readouterr().out
    assert "backward from out2 = 6" in text and "dout2/df = 3" in text and "dout2/dout = 2" in text


def test_json_output_is_standard_json_with_inf_and_nan(capsys):
    def strict(s):  # Python's parser would take bare Infinity and NaN; JSON does not
        return json.loads(s, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))

    assert E.main(["log(x) + 0 * y / z", "--vars", "x=0,y=1,z=0", "--json"]) == 0
    doc = strict(capsys.readouterr().out)
    assert doc["value"] == "NaN"  # -inf + 0 * inf
    assert E.main(["log(x)", "--vars", "x=0", "--json"]) == 0
    doc = strict(capsys.readouterr().out)
    assert doc["value"] == "-Infinity" and doc["grads"]["x"] == "Infinity"
    ex = E.explain("sqrt(x)", {"x": 0.0})
    strict(ex.trace.to_json())


def test_a_flat_sum_as_long_as_the_limit_allows_is_explained():
    """x+x+...+x is a tree as deep as it has terms; 999 of them (1997 characters) used to hit
    Python's recursion limit at about 400."""
    expr = "+".join(["x"] * 999)
    assert len(expr) <= E.MAX_LENGTH
    limit = sys.getrecursionlimit()
    ex = E.explain(expr, {"x": 2.0})
    assert ex.grads == {"x": 999.0} and ex.output.item() == 1998.0
    assert sys.getrecursionlimit() == limit  # (raised only while it works)


def test_an_expression_that_starts_with_a_minus_gets_a_hint(capsys):
    from tinygrad_sm import explain
    assert explain.main(["-x*y", "--vars", "x=1,y=2"]) == 2
    err = capsys.readouterr().err
    assert "'-x*y' starts with \"-\", so it reads as an option" in err and '-- "-x*y"' in err
    assert explain.main(["--vars", "x=1,y=2", "--", "-x*y"]) == 0


def test_an_unknown_option_beside_an_expression_gets_no_minus_hint(capsys):
    assert E.main(["x", "--vars", "x=1", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and "starts with" not in err


@pytest.mark.parametrize("name", ["lambda", "None", "class"])
def test_vars_that_are_python_keywords_are_refused_by_name(name):
    with pytest.raises(E.ExplainError, match=f"--vars {name}: {name} is a Python keyword"):
        E.parse_vars([f"{name}=0.1,w=2"])


def test_vars_names_are_read_as_the_parser_reads_them():
    """Python's parser turns the ligature 'ﬁ' into 'fi' (NFKC); --vars does the same."""
    ex = E.explain("ﬁ * 2", E.parse_vars(["ﬁ=3"]))
    assert ex.output.item() == 6.0


def test_columns_count_from_the_expression_as_given():
    with pytest.raises(E.ExplainError, match="unknown name 'q' at column 5"):
        E.explain(" -x*q", {"x": 1.0})
    with pytest.raises(E.ExplainError, match="the expression is empty"):
        E.explain("   ", {})
