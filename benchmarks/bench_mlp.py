"""One epoch of SGD on Fashion-MNIST: tinygrad_sm vs PyTorch CPU vs a hand-written NumPy net.

Configs (issue #4, items 1-3):
  mlp64      MLP 784-256-10, batch 64, SGD
  mlp256     MLP 784-256-10, batch 256, SGD
  softreg256 softmax regression 784-10, batch 256, SGD
  deep64     deep MLP 784-512-256-128-64-10, batch 64, SGD momentum 0.5

Every implementation starts from the same NumPy-generated float32 weights and sees the same
batches in the same order (one shared permutation). Speed cannot come from doing less work: each
step is forward, mean cross-entropy, backward and an SGD update of every parameter, and the timed
loop includes slicing the batch out of the data.

The same work, checked: after the timed epochs, every framework trains the epoch once more in
float64 (untimed), where rounding is 2**29 times smaller; there the final weights must agree with
PyTorch's to 1e-9 and the test predictions must be the same. In float32 they do not agree that
closely, and need not: training amplifies rounding (a pre-activation within ~1e-7 of 0 that lands
on the other side of the ReLU kink drops or keeps one example's gradient through that unit, and
the runs drift apart from there). To show how far float32 rounding alone moves a run, PyTorch also
trains the epoch from its initial weights moved up by one float32 ulp, and the tables give how far
that run ends from PyTorch's own.

    python benchmarks/bench_mlp.py                 # all configs, all frameworks
    python benchmarks/bench_mlp.py --config mlp64 --only torch --repeats 1   # one per process
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import json
import time
from typing import Any, Optional, Protocol

import numpy as np

CONFIGS: dict[str, dict[str, Any]] = {
    "mlp64": dict(title="MLP 784-256-10, batch 64, SGD", sizes=[784, 256, 10], batch=64, lr=0.05, momentum=0.0),
    "mlp256": dict(title="MLP 784-256-10, batch 256, SGD", sizes=[784, 256, 10], batch=256, lr=0.1, momentum=0.0),
    "softreg256": dict(title="Softmax regression 784-10, batch 256, SGD", sizes=[784, 10], batch=256, lr=0.1,
                       momentum=0.0),
    "deep64": dict(title="Deep MLP 784-512-256-128-64-10, batch 64, SGD momentum 0.5",
                   sizes=[784, 512, 256, 128, 64, 10], batch=64, lr=0.05, momentum=0.5),
}
SHORT = {"mlp64": "MLP batch 64", "mlp256": "MLP batch 256", "softreg256": "softmax regression batch 256",
         "deep64": "deep MLP batch 64"}
FRAMEWORKS = ("tinygrad_sm", "torch", "numpy")
SAME_WORK_DW = 1e-9  # float64 weights after one epoch, any framework vs PyTorch
SEED = 1234

Params = list[tuple[np.ndarray, np.ndarray]]


def init_params(sizes: list[int], seed: int = SEED) -> Params:
    """He-normal weights (out, in) and small uniform biases, float32, from one seeded generator."""
    rng = np.random.default_rng(seed)
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = (rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = rng.uniform(-0.01, 0.01, fan_out).astype(np.float32)
        out.append((w, b))
    return out


def batch_order(n: int, batch: int, seed: int = SEED + 1) -> list[np.ndarray]:
    """The one shuffled batch order every framework uses (last batch may be short)."""
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[i:i + batch] for i in range(0, n, batch)]


class Net(Protocol):
    def train_epoch(self, x: np.ndarray, y: np.ndarray, batches: list[np.ndarray]) -> None: ...
    def logits(self, x: np.ndarray) -> np.ndarray: ...
    def weights(self) -> list[np.ndarray]: ...


# -- hand-written NumPy: the floor ---------------------------------------------------------
class NumpyNet:
    """Forward, softmax-CE, backward and SGD(momentum) written out by hand with in-place updates."""

    def __init__(self, params: Params, lr: float, momentum: float) -> None:
        self.w = [w.copy() for w, _ in params]
        self.b = [b.copy() for _, b in params]
        self.lr, self.momentum = lr, momentum
        self.buf: Optional[list[np.ndarray]] = None  # momentum buffers, w then b per layer

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        acts, h = [x], x
        last = len(self.w) - 1
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            h = h @ w.T
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
            acts.append(h)
        return acts

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        acts = self._forward(x)
        z, n = acts[-1], len(y)
        rows = np.arange(n)
        shift = z - z.max(axis=1, keepdims=True)
        e = np.exp(shift)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - shift[rows, y]))
        g = e / s  # dL/dz = (softmax - onehot) / N
        g[rows, y] -= 1
        g /= n
        grads = []
        for i in range(len(self.w) - 1, -1, -1):
            dw, db = g.T @ acts[i], g.sum(axis=0)
            if i > 0:  # through the layer, then the ReLU gates
                g = g @ self.w[i]
                g *= acts[i] > 0
            grads += [(i, dw, db)]
        self._update(grads)
        return loss

    def _update(self, grads: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        first = self.buf is None
        if first and self.momentum:
            self.buf = [np.empty_like(p) for w, b in zip(self.w, self.b) for p in (w, b)]
        for i, dw, db in grads:
            for j, (p, d) in enumerate(((self.w[i], dw), (self.b[i], db))):
                if self.momentum:  # PyTorch's rule: buf = d, then buf = m * buf + d
                    buf = self.buf[2 * i + j]
                    if first:
                        buf[...] = d
                    else:
                        buf *= self.momentum
                        buf += d
                    d = buf
                p -= self.lr * d

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batches: list[np.ndarray]) -> None:
        for idx in batches:
            self.step(x[idx], y[idx])

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)[-1]

    def weights(self) -> list[np.ndarray]:
        return [p for w, b in zip(self.w, self.b) for p in (w, b)]


# -- PyTorch -------------------------------------------------------------------------------
class TorchNet:
    def __init__(self, params: Params, lr: float, momentum: float) -> None:
        torch = common.torch_or_none()
        if torch is None:
            raise ImportError("PyTorch is not installed")
        self.torch, self.F = torch, torch.nn.functional
        layers: list[Any] = []
        for w, _ in params:
            layers += [torch.nn.Linear(w.shape[1], w.shape[0]), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1]).to(getattr(torch, params[0][0].dtype.name))
        with torch.no_grad():
            for p, src in zip(self.model.parameters(), [a for wb in params for a in wb]):
                p.copy_(torch.from_numpy(src))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batches: list[np.ndarray]) -> None:
        torch, model, opt, F = self.torch, self.model, self.opt, self.F
        for idx in batches:
            xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def logits(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x)).numpy()

    def weights(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.model.parameters()]


# -- tinygrad_sm ---------------------------------------------------------------------------
def tinygrad_missing() -> Optional[str]:
    """Why the tinygrad_sm column cannot run yet (None when it can)."""
    for mod, attr in (("tinygrad_sm.nn", "Linear"), ("tinygrad_sm.optim", "SGD")):
        if not common.has_attr_path(mod, attr):
            return f"{mod}.{attr} not available yet"
    return None


class TinygradNet:
    """The same code as TorchNet, written against tinygrad_sm's PyTorch-like API."""

    def __init__(self, params: Params, lr: float, momentum: float, backend: Optional[str] = None) -> None:
        tg = common.tinygrad_setup(backend)
        from tinygrad_sm import nn, optim
        import tinygrad_sm.functional as F

        self.tg, self.F = tg, F
        layers: list[Any] = []
        for w, _ in params:
            layers += [nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype.name), nn.ReLU()]
        self.model = nn.Sequential(*layers[:-1])
        mine = list(self.model.parameters())
        srcs = [a for wb in params for a in wb]
        if [p.shape for p in mine] != [s.shape for s in srcs]:
            raise RuntimeError(f"tinygrad_sm parameter shapes {[p.shape for p in mine]} are not the "
                               f"PyTorch layout {[s.shape for s in srcs]} (weight then bias per layer)")
        for p, src in zip(mine, srcs):
            np.copyto(p.numpy(), src)  # .numpy() shares the tensor's memory
        self.opt = optim.SGD(mine, lr=lr, momentum=momentum)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batches: list[np.ndarray]) -> None:
        tg, model, opt, F = self.tg, self.model, self.opt, self.F
        for idx in batches:
            xb, yb = tg.from_numpy(x[idx]), tg.from_numpy(y[idx])
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def logits(self, x: np.ndarray) -> np.ndarray:
        with self.tg.no_grad():
            return self.model(self.tg.from_numpy(x)).numpy()

    def weights(self) -> list[np.ndarray]:
        return [p.numpy().copy() for p in self.model.parameters()]


def make(framework: str, params: Params, cfg: dict[str, Any], backend: Optional[str]) -> Net:
    if framework == "numpy":
        return NumpyNet(params, cfg["lr"], cfg["momentum"])
    if framework == "torch":
        return TorchNet(params, cfg["lr"], cfg["momentum"])
    return TinygradNet(params, cfg["lr"], cfg["momentum"], backend)


def available(frameworks: list[str]) -> tuple[list[str], dict[str, str]]:
    """The frameworks that can run here, and why the others cannot."""
    skipped = {}
    if "torch" in frameworks and common.optional("torch") is None:
        skipped["torch"] = "PyTorch not installed"
    if "tinygrad_sm" in frameworks and (why := tinygrad_missing()):
        skipped["tinygrad_sm"] = why
    return [f for f in frameworks if f not in skipped], skipped


# -- the benchmark -------------------------------------------------------------------------
def run_config(name: str, frameworks: list[str], data: tuple[np.ndarray, ...], repeats: int,
               max_batches: Optional[int], warmup_steps: int, backend: Optional[str],
               same_work: bool = True) -> dict[str, Any]:
    """Time one epoch per framework, taking turns across repeats; then accuracy and weight drift,
    and (same_work, with PyTorch) the float64 epoch and PyTorch's run from weights one ulp up."""
    cfg = CONFIGS[name]
    xtr, ytr, xte, yte = data
    params = init_params(cfg["sizes"])
    batches = batch_order(len(xtr), cfg["batch"])[:max_batches]
    for fw in frameworks:  # warm-up on a throwaway copy: JIT, allocator, thread pools
        make(fw, params, cfg, backend).train_epoch(xtr, ytr, batches[:warmup_steps])
    times: dict[str, list[float]] = {fw: [] for fw in frameworks}
    nets: dict[str, Net] = {}
    for r in range(repeats):
        for fw in frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]:
            net = make(fw, params, cfg, backend)
            t0 = time.perf_counter()
            net.train_epoch(xtr, ytr, batches)
            times[fw].append(time.perf_counter() - t0)
            nets[fw] = net
    res: dict[str, Any] = {"config": name, "title": cfg["title"], "batches": len(batches), "rows": {}}
    preds = {fw: net.logits(xte).argmax(axis=1) for fw, net in nets.items()}
    weights = {fw: net.weights() for fw, net in nets.items()}

    def drift(fw: str, ref: str) -> Optional[float]:
        if ref not in weights:
            return None
        return max_abs_diff(weights[fw], weights[ref])

    for fw in frameworks:
        res["rows"][fw] = {
            "sec": common.median(times[fw]), "times": times[fw],
            "acc": float(np.mean(preds[fw] == yte)),
            "pred_diff": int(np.sum(preds[fw] != preds["torch"])) if "torch" in preds else None,
            "max_dw": drift(fw, "torch"), "max_dw_numpy": drift(fw, "numpy"),
        }
    res["same_work"] = same_work  # (its target rows show '-' when PyTorch or tinygrad_sm is missing)
    if same_work and "torch" in nets:
        res["float64"] = float64_epoch(cfg, frameworks, data, params, batches, backend)
        nudged = make("torch", ulp_up(params), cfg, backend)
        nudged.train_epoch(xtr, ytr, batches)
        pred = nudged.logits(xte).argmax(axis=1)
        res["ulp"] = {"acc": float(np.mean(pred == yte)), "pred_diff": int(np.sum(pred != preds["torch"])),
                      "max_dw": max_abs_diff(nudged.weights(), weights["torch"])}
    return res


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def ulp_up(params: Params) -> Params:
    """Every initial weight and bias moved up by one ulp of its dtype."""
    return [(np.nextafter(w, np.inf), np.nextafter(b, np.inf)) for w, b in params]


def float64_epoch(cfg: dict[str, Any], frameworks: list[str], data: tuple[np.ndarray, ...],
                  params: Params, batches: list[np.ndarray], backend: Optional[str]) -> dict[str, Any]:
    """The epoch again in float64, untimed, from the same weights (widened exactly) and batches:
    each framework's test accuracy, and its predictions and weights against PyTorch's."""
    xtr, ytr, xte, yte = data
    p64 = [(w.astype(np.float64), b.astype(np.float64)) for w, b in params]
    x64, xte64 = xtr.astype(np.float64), xte.astype(np.float64)
    nets = {}
    for fw in frameworks:
        nets[fw] = make(fw, p64, cfg, backend)
        nets[fw].train_epoch(x64, ytr, batches)
        dtypes = {w.dtype for w in nets[fw].weights()}
        if dtypes != {np.dtype(np.float64)}:  # a silent float32 run would make the check vacuous
            raise RuntimeError(f"{fw}: the float64 run ended with weights of dtype {dtypes}")
    preds = {fw: net.logits(xte64).argmax(axis=1) for fw, net in nets.items()}
    ref = nets["torch"].weights()
    return {fw: {"acc": float(np.mean(preds[fw] == yte)), "pred_diff": int(np.sum(preds[fw] != preds["torch"])),
                 "max_dw": max_abs_diff(net.weights(), ref)} for fw, net in nets.items()}


def _sci(v: Optional[float]) -> Optional[str]:
    return None if v is None else f"{v:.1e}"


def section(results: list[dict[str, Any]], skipped: dict[str, str], source: str, args: Any) -> str:
    out = ["## Training: one epoch of Fashion-MNIST (bench_mlp.py)", "",
           f"Data: {source}. Same initial weights (seed {SEED}) and batch order for every framework; "
           f"time = median over {args.repeats} epoch(s), frameworks taking turns; accuracy on the 10,000 "
           "test images; max abs dW = largest difference of any final parameter from PyTorch's (or the "
           "hand NumPy net's).", "",
           "In float32 the runs end apart by up to ~1e-1 in some weight, because training amplifies "
           "rounding: PyTorch's and NumPy's BLAS round differently, a pre-activation within ~1e-7 of 0 "
           "can land on the other side of the ReLU kink, which drops or keeps one example's gradient "
           "through that unit, and the runs drift apart from there. 'PyTorch, weights 1 ulp up' "
           "measures that: PyTorch itself, from its initial weights moved up by one float32 ulp. "
           "That it is the same work is checked in float64, where rounding is 2**29 times smaller: "
           "each framework trains the epoch once more (untimed), and the weights must end within "
           f"{SAME_WORK_DW:g} of PyTorch's, with the same test predictions."]
    if skipped:
        out += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    targets, same = [], []  # speed, then same work
    for res in results:
        rows = res["rows"]
        sec = {fw: r["sec"] for fw, r in rows.items()}
        table = [[fw, r["sec"], common.ratio(r["sec"], sec.get("torch")), common.ratio(r["sec"], sec.get("numpy")),
                  f"{100 * r['acc']:.2f}%", r["pred_diff"], _sci(r["max_dw"]), _sci(r["max_dw_numpy"])]
                 for fw, r in rows.items()]
        if "ulp" in res:
            u = res["ulp"]
            table.append(["PyTorch, weights 1 ulp up", None, None, None, f"{100 * u['acc']:.2f}%",
                          u["pred_diff"], _sci(u["max_dw"]), None])
        out += ["", f"### {res['title']} ({res['batches']} steps)", "",
                common.md_table(["framework", "s/epoch", "x PyTorch", "x NumPy", "test acc",
                                 "test predictions != PyTorch's", "max abs dW vs PyTorch", "max abs dW vs NumPy"], table)]
        if "float64" in res:
            f64 = res["float64"]
            out += ["", "The same epoch in float64 (untimed):", "",
                    common.md_table(["framework", "test acc", "test predictions != PyTorch's", "max abs dW vs PyTorch"],
                                    [[fw, f"{100 * r['acc']:.2f}%", r["pred_diff"], _sci(r["max_dw"])]
                                     for fw, r in f64.items()])]
        if res.get("same_work"):
            r = (res.get("float64") or {}).get("tinygrad_sm") or {}
            name = f"{SHORT[res['config']]}, one epoch in float64: tinygrad_sm"
            same += [(f"{name} max abs dW vs PyTorch", r.get("max_dw"), SAME_WORK_DW),
                     (f"{name} test predictions != PyTorch's", r.get("pred_diff"), 0)]
        if res["config"] == "mlp64":
            targets += [("MLP batch 64: tinygrad_sm / PyTorch", _paired(rows, "torch"), 0.65),
                        ("MLP batch 64: tinygrad_sm / hand NumPy", _paired(rows, "numpy"), 1.1)]
        if res["config"] == "softreg256":
            targets += [("softmax regression batch 256: tinygrad_sm / PyTorch", _paired(rows, "torch"), 0.5)]
    targets += same
    if targets:
        out += ["", "### Targets", "",
                "Each target is the median of the epoch-by-epoch ratios (the two epochs of a round are "
                "timed at most one other framework's epoch apart, so a slow spell longer than a "
                "round divides out), with the "
                "interquartile range in brackets; the tables above divide medians.", "",
                "The float64 rows compare the untimed float64 epoch with PyTorch's.", "",
                common.md_table(["target", "measured", "at most", "verdict"],
                                [[t, _measured(q), lim, common.verdict(_value(q), lim)] for t, q, lim in targets])]
    return "\n".join(out)


def _measured(q: Any) -> Optional[str]:
    """A paired ratio with its interquartile range, or a single number."""
    if q is None or isinstance(q, tuple):
        return q and common.spread(q)
    return str(q) if isinstance(q, int) else f"{q:.1e}"


def _value(q: Any) -> Optional[float]:
    return q[0] if isinstance(q, tuple) else q


def _paired(rows: dict[str, Any], ref: str) -> Optional[tuple[float, float, float]]:
    """tinygrad_sm's epoch time over ref's, round by round (None when either did not run)."""
    if "tinygrad_sm" not in rows or ref not in rows:
        return None
    return common.paired_ratio(rows["tinygrad_sm"]["times"], rows[ref]["times"])


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--config", choices=[*CONFIGS, "all"], default="all")
    p.add_argument("--only", choices=FRAMEWORKS, help="run a single framework (one per process, for memory)")
    p.add_argument("--repeats", type=int, help="timed epochs per framework (default 5, --quick 1)")
    p.add_argument("--backend", choices=["numba", "numpy"], help="tinygrad_sm kernel backend (default: its own)")
    p.add_argument("--json", action="store_true", help="print the raw results as JSON as well")
    p.add_argument("--no-float64", action="store_true",
                   help="skip the untimed same-work check (the float64 epoch and PyTorch from weights 1 ulp "
                        "up; --only skips it too, so that bench_memory.py measures the timed run alone)")
    args = p.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 5)
    wanted = [args.only] if args.only else list(FRAMEWORKS)
    frameworks, skipped = available(wanted)
    if args.only and not frameworks:
        raise SystemExit(f"--only {args.only}: {skipped[args.only]}")
    xtr, ytr, xte, yte, source = common.load_fashion_mnist()
    configs = list(CONFIGS) if args.config == "all" else [args.config]
    results = [run_config(c, frameworks, (xtr, ytr, xte, yte), args.repeats,
                          max_batches=60 if args.quick else None, warmup_steps=5 if args.quick else 20,
                          backend=args.backend, same_work=not (args.no_float64 or args.only))
               for c in configs]
    common.emit(section(results, skipped, source, args), args.out)
    if args.json:
        print("JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
