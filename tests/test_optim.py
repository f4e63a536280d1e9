"""Optimizers: PyTorch's update rules step for step, state save/restore, schedules, bad options."""
import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import optim

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.8, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.02, initial_accumulator_value=0.3, eps=1e-6)),
]


def _problem(dtype):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(dtype) for s in ((4, 3), (3,))], rng.standard_normal((6, 4)).astype(dtype)


def _run_ours(name, kw, dtype, steps=6):
    (w0, b0), x = _problem(dtype)
    w, b = ts.Tensor(w0, requires_grad=True), ts.Tensor(b0, requires_grad=True)
    opt = getattr(optim, name)([w, b], **kw)
    for _ in range(steps):
        opt.zero_grad()
        ((ts.Tensor(x) @ w + b).tanh() ** 2).sum().backward()
        opt.step()
    return w.data, b.data


@pytest.mark.parametrize("name, kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_pytorch_step_for_step(name, kw, torch):
    (w0, b0), x = _problem(np.float64)
    w, b = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = getattr(torch.optim, name)([w, b], **kw)
    for _ in range(6):
        opt.zero_grad()
        ((torch.from_numpy(x) @ w + b).tanh() ** 2).sum().backward()
        opt.step()
    ow, ob = _run_ours(name, kw, np.float64)
    np.testing.assert_allclose(ow, w.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ob, b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_sgd_by_hand():
    p = ts.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (p * p).sum().backward()  # grad 2p
        opt.step()
    # step 1: buf = g1 = [2, -4], p = [0, 0]; step 2: g2 = 0, buf = 0.9 * buf, p = -0.5 * 0.9 * [2, -4]
    np.testing.assert_allclose(p.data, [-0.9, 1.8])


def test_float32_parameters_stay_float32_and_in_place():
    for name, kw in CONFIGS:
        w, b = _run_ours(name, kw, np.float32, steps=2)
        assert w.dtype == np.float32 and b.dtype == np.float32


def test_step_skips_parameters_without_grad_and_zero_grad_modes():
    a = ts.Tensor(np.ones(2), requires_grad=True)
    b = ts.Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=1.0)
    (a * 3).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.data, [-2, -2])
    np.testing.assert_array_equal(b.data, [1, 1])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, [0, 0])
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_resume_gives_the_same_trajectory():
    for name, kw in CONFIGS:
        (w0, b0), x = _problem(np.float64)

        def make(w_init):
            w = ts.Tensor(w_init.copy(), requires_grad=True)
            return w, getattr(optim, name)([w], **kw)

        def step(w, opt):
            opt.zero_grad()
            ((ts.Tensor(x) @ w).tanh() ** 2).sum().backward()
            opt.step()

        w1, o1 = make(w0)
        for _ in range(5):
            step(w1, o1)
        w2, o2 = make(w0)
        for _ in range(2):
            step(w2, o2)
        saved = o2.state_dict()
        w3, o3 = make(w2.data)
        o3.load_state_dict(saved)
        for _ in range(3):
            step(w3, o3)
        np.testing.assert_array_equal(w3.data, w1.data)


def test_state_dict_shape_mismatch_is_reported():
    w = ts.Tensor(np.ones((2, 2)), requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    other = optim.SGD([ts.Tensor(np.ones(3), requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(2, 2\).*\(3,\)"):
        other.load_state_dict(sd)


def test_step_lr_schedule():
    w = ts.Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize("step_size, gamma", [(2, 0.5), (3, 0.2), (1, 0.9)])
def test_step_lr_matches_pytorch_and_drives_the_same_updates(step_size, gamma, torch):
    (w0, b0), x = _problem(np.float64)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    topt = torch.optim.SGD([tw, tb], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size, gamma)
    w, b = ts.Tensor(w0, requires_grad=True), ts.Tensor(b0, requires_grad=True)
    opt = optim.SGD([w, b], lr=0.1, momentum=0.9)
    sched = optim.StepLR(opt, step_size, gamma)
    for epoch in range(7):  # one step an "epoch", then the schedule steps, as in fit()
        topt.zero_grad()
        ((torch.from_numpy(x) @ tw + tb).tanh() ** 2).sum().backward()
        topt.step()
        tsched.step()
        opt.zero_grad()
        ((ts.Tensor(x) @ w + b).tanh() ** 2).sum().backward()
        opt.step()
        sched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_step_lr_carries_on_from_an_lr_set_by_hand_as_pytorch_does(torch):
    w, tw = ts.Tensor(np.ones(1), requires_grad=True), torch.ones(1, requires_grad=True)
    opt, topt = optim.SGD([w], lr=1.0), torch.optim.SGD([tw], lr=1.0)
    sched, tsched = optim.StepLR(opt, 3, 0.5), torch.optim.lr_scheduler.StepLR(topt, 3, 0.5)
    lrs, tlrs = [], []
    for epoch in range(8):
        if epoch == 1:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.1
        topt.step()  # (PyTorch wants an optimizer step before the scheduler's)
        sched.step()
        tsched.step()
        lrs.append(sched.get_last_lr()[0])
        tlrs.append(tsched.get_last_lr()[0])
    assert lrs == pytest.approx(tlrs, rel=1e-15)
    assert lrs[1] == 0.1 and lrs[-1] == pytest.approx(0.025)  # not reset to 1.0 * 0.5**k


def test_a_lone_tensor_is_a_clear_error_and_a_group_may_hold_one():
    t = ts.Tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match=r"got one Tensor; pass \[t\]"):
        optim.SGD(t, lr=0.1)
    opt = optim.SGD([{"params": t, "lr": 0.5}], lr=0.1)  # (PyTorch takes a lone tensor in a group)
    (t * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(t.numpy(), np.zeros((3, 2)))


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-1), "lr must be"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "beta1"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), r"leaf tensors \(parameters\), got a non-leaf Tensor \(2,\)"),
    (lambda p: optim.SGD([np.ones(2)], lr=0.1), "leaf tensors .*got a ndarray"),
    (lambda p: optim.SGD(p + p, lr=0.1), "appears twice"),
    (lambda p: optim.SGD([{"params": p, "lr": 0.1, "beta": 2}], lr=0.1), "unknown option"),
    # a group's own options are checked as the defaults are
    (lambda p: optim.SGD([{"params": p, "lr": -1}], lr=0.1), "lr must be"),
    (lambda p: optim.SGD([{"params": p, "lr": float("nan")}], lr=0.1), "lr must be"),
    (lambda p: optim.SGD([{"params": p, "nesterov": True}], lr=0.1, momentum=0.9, dampening=0.5),
     "Nesterov"),
    (lambda p: optim.SGD([{"params": p, "momentum": 0, "nesterov": True}], lr=0.1, momentum=0.9),
     "Nesterov"),
    (lambda p: optim.Adam([{"params": p, "betas": (1.5, 0.9)}]), "beta1"),
    (lambda p: optim.Adam(p, betas=(0.9, 0.9, 0.9)), "betas must be a pair"),
    (lambda p: optim.SGD(p, lr=0.1, dampening=float("nan")), "dampening must be"),
    (lambda p: optim.SGD(p, lr=0.1, dampening=-1), "dampening must be"),
    (lambda p: optim.SGD(p, lr="0.1"), "lr must be a number"),
    (lambda p: optim.StepLR(optim.SGD(p, lr=0.1), 2, gamma=float("nan")), "gamma must be"),
    (lambda p: optim.StepLR(optim.SGD(p, lr=0.1), 2, gamma=-0.5), "gamma must be"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "alpha must be >= 0"),
    (lambda p: optim.RMSprop(p, centered=1), "centered must be True or False"),
    (lambda p: optim.RMSprop(p, momentum=-0.1), "momentum must be"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "lr_decay must be"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=float("inf")), "initial_accumulator_value must be"),
    (lambda p: optim.Adagrad(p, eps="tiny"), "eps must be a number"),
])
def test_bad_options_are_rejected(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make([ts.Tensor(np.ones(2), requires_grad=True)])


def test_param_groups_have_their_own_lr():
    a = ts.Tensor(np.ones(1), requires_grad=True)
    b = ts.Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a + b).sum().backward()
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.5)


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1))])
def test_state_of_a_0d_parameter_survives_a_checkpoint_file(tmp_path, name, kw):
    """A 0-d parameter has 0-d buffers, which a checkpoint must give back as arrays (only Adam's
    step count becomes a number again)."""
    def run(steps, resume=None):
        p = ts.Tensor(1.5, dtype="float64", requires_grad=True)
        opt = getattr(optim, name)([p], **kw)
        if resume is not None:
            p.data[()] = resume["p"]
            opt.load_state_dict(resume["opt"])
        for _ in range(steps):
            opt.zero_grad()
            (p * p).backward()
            opt.step()
        return p, opt

    p_all, _ = run(5)
    p2, o2 = run(2)
    ts.save({"p": p2.data, "opt": o2.state_dict()}, tmp_path / "ck.npz")
    p3, o3 = run(3, resume=ts.load(tmp_path / "ck.npz"))
    assert p3.item() == p_all.item()
    assert all(isinstance(v, np.ndarray) for k, v in o3.state[0].items() if k != "step")


def test_a_step_count_stored_as_a_float_array_loads_as_a_number():
    """PyTorch keeps Adam's step as a 0-d float tensor; for any parameter it is a count."""
    for shape in ((3,), ()):
        p = ts.Tensor(np.ones(shape), requires_grad=True)
        opt = optim.Adam([p], lr=0.1)
        p.grad = ts.Tensor(np.ones(shape))
        opt.step()
        sd = opt.state_dict()
        sd["state"]["0"]["step"] = np.array(1.0)
        opt.load_state_dict(sd)
        assert opt.state[0]["step"] == 1 and not isinstance(opt.state[0]["step"], np.ndarray)
        p.grad = ts.Tensor(np.ones(shape))
        opt.step()
        assert opt.state[0]["step"] == 2


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)),
                                      ("Adam", dict(lr=0.1))])
def test_a_read_only_parameter_is_a_clear_error_on_both_backends(backend, name, kw):
    prev = ts.kernels.get_backend()
    ts.kernels.set_backend(backend)
    try:
        for dt in (np.float32, np.float64):
            a = np.ones((3, 4), dt)
            a.flags.writeable = False
            w = ts.from_numpy(a)
            w.requires_grad_(True)
            w.grad = ts.Tensor(np.ones((3, 4), dt))
            with pytest.raises(ValueError, match="read-only"):
                getattr(optim, name)([w], **kw).step()
    finally:
        ts.kernels.set_backend(prev)


def test_a_0d_buffer_for_a_larger_parameter_is_refused_when_loaded():
    w = ts.Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    state = {"state": {"0": {"momentum_buffer": np.array(0.5)}}, "param_groups": opt.state_dict()["param_groups"]}
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(\).*\(2, 3\)"):
        opt.load_state_dict(state)


def test_a_tensor_assigned_to_data_is_named_at_the_step():
    w = ts.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * 2).sum().backward()
    w.data = ts.zeros(3)  # (PyTorch's p.data = tensor; here .data is an array)
    with pytest.raises(TypeError, match=r"parameter 0's .data is a Tensor, not a NumPy array"):
        opt.step()


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1))])
def test_a_step_that_fails_updates_nothing_so_a_retry_steps_each_parameter_once(name, kw):
    a = ts.Tensor(np.ones(3, np.float32), requires_grad=True)
    b = ts.Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = getattr(optim, name)([a, b], **kw)
    a.grad, b.grad = ts.Tensor(np.ones(3, np.float32)), ts.Tensor(np.ones(2, np.float32))
    b.data.flags.writeable = False
    with pytest.raises(ValueError, match="parameter 1 is read-only"):
        opt.step()
    np.testing.assert_array_equal(a.numpy(), np.ones(3))
    assert opt.state == {} or all(not s for s in opt.state.values())
    b.data = b.data.copy()
    opt.step()
    ref = getattr(optim, name)([c := ts.Tensor(np.ones(3, np.float32), requires_grad=True)], **kw)
    c.grad = ts.Tensor(np.ones(3, np.float32))
    ref.step()
    np.testing.assert_array_equal(a.numpy(), c.numpy())  # one step, not two


def test_a_state_dict_of_another_optimizer_is_refused_and_changes_nothing():
    w = ts.Tensor(np.ones(2), requires_grad=True)
    sgd = optim.SGD([w], lr=0.1, momentum=0.9)
    adam = optim.Adam([w], lr=0.01)
    with pytest.raises(ValueError, match="option 'momentum', which Adam does not have"):
        adam.load_state_dict(sgd.state_dict())
    assert adam.param_groups[0]["lr"] == 0.01 and "momentum" not in adam.param_groups[0]


def test_loaded_options_are_checked_as_the_constructor_checks_them():
    w = ts.Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr must be"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_pytorch_state_dicts_load_and_a_flag_we_do_not_implement_is_refused(name, torch):
    tp = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    kw = dict(lr=0.1, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.1)
    topt = getattr(torch.optim, name)([tp], **kw)
    tp.grad = torch.tensor([1.0, 0.5], dtype=torch.float64)
    topt.step()
    sd = topt.state_dict()
    sd = {"state": {str(k): {n: (v.numpy() if hasattr(v, "numpy") else v) for n, v in s.items()}
                    for k, s in sd["state"].items()},
          "param_groups": sd["param_groups"]}
    w = ts.Tensor(tp.detach().numpy().copy(), requires_grad=True)
    opt = getattr(optim, name)([w], **kw)
    opt.load_state_dict(sd)  # (foreach=None, maximize=False, ...: the defaults, accepted)
    for o, g in ((topt, tp), (opt, w)):  # the next step goes on from PyTorch's state as PyTorch's does
        g.grad = torch.tensor([-0.3, 2.0], dtype=torch.float64) if o is topt else ts.Tensor(np.array([-0.3, 2.0]))
        o.step()
    np.testing.assert_allclose(w.data, tp.detach().numpy(), rtol=1e-13)
    sd["param_groups"][0]["maximize"] = True
    with pytest.raises(ValueError, match=f"maximize=True, which {name} does not implement"):
        getattr(optim, name)([w], **kw).load_state_dict(sd)


def test_frozen_parameters_are_kept_and_skipped_as_in_pytorch():
    model = ts.nn.Sequential(ts.nn.Linear(4, 3), ts.nn.ReLU(), ts.nn.Linear(3, 2))
    model[0].requires_grad_(False)
    frozen = model[0].weight.numpy().copy()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(ts.Tensor(np.ones((2, 4), np.float32))).sum().backward()
    opt.step()
    np.testing.assert_array_equal(model[0].weight.numpy(), frozen)
    assert model[0].weight.grad is None and model[2].weight.grad is not None


def test_step_lr_state_round_trips_with_its_step_size_and_gamma_as_pytorch_does():
    w = ts.Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = optim.StepLR(opt, 3, 0.5)
    for _ in range(4):
        sched.step()
    other = optim.StepLR(optim.SGD([w], lr=1.0), 7, 0.9)
    other.load_state_dict(sched.state_dict())
    assert (other.step_size, other.gamma, other.last_epoch, other.base_lrs) == (3, 0.5, 4, [1.0])
    old = {"last_epoch": 2, "base_lrs": [0.25]}  # (a state written before step_size and gamma were in it)
    other.load_state_dict(old)
    assert (other.step_size, other.gamma, other.last_epoch, other.base_lrs) == (3, 0.5, 2, [0.25])


@pytest.mark.parametrize("state, match", [
    ({}, "no 'last_epoch' or 'base_lrs'"),
    ({"last_epoch": 1}, "no 'base_lrs'"),
    ({"last_epoch": -1, "base_lrs": [0.1]}, "last_epoch must be an int >= 0"),
    ({"last_epoch": 1.5, "base_lrs": [0.1]}, "last_epoch must be an int >= 0"),
    ({"last_epoch": 1, "base_lrs": [0.1, 0.2]}, r"one lr per parameter group \(1\)"),
    ({"last_epoch": 1, "base_lrs": "0.1"}, r"one lr per parameter group \(1\)"),
    ({"last_epoch": 1, "base_lrs": [0.1], "step_size": 0}, "step_size must be an int >= 1"),
    ({"last_epoch": 1, "base_lrs": [0.1], "gamma": float("nan")}, "gamma must be"),
    ([("last_epoch", 1)], "expected a dict"),
])
def test_step_lr_refuses_a_state_that_does_not_fit_and_keeps_its_own(state, match):
    opt = optim.SGD([ts.Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    sched = optim.StepLR(opt, 3, 0.5)
    sched.step()
    before = dict(vars(sched))
    with pytest.raises((ValueError, TypeError), match=match):
        sched.load_state_dict(state)
    assert vars(sched) == before


def test_add_param_group_trains_the_new_group_with_its_options_as_pytorch(torch):
    a0, b0 = np.array([1.0, -2.0]), np.array([0.5])
    a, b = ts.tensor(a0, requires_grad=True), ts.tensor(b0, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt, topt = optim.SGD([a], lr=0.1, momentum=0.9), torch.optim.SGD([ta], lr=0.1, momentum=0.9)
    for step in range(4):
        if step == 2:  # (part way through: b joins with its own lr)
            opt.add_param_group({"params": [b], "lr": 0.5})
            topt.add_param_group({"params": [tb], "lr": 0.5})
        for o, x, y in ((opt, a, b), (topt, ta, tb)):
            o.zero_grad()
            ((x * x).sum() + (y * y * 3).sum()).backward()
            o.step()
    np.testing.assert_allclose(a.numpy(), ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-12)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="a parameter appears twice"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="lr must be"):
        opt.add_param_group({"params": [ts.tensor([1.0], requires_grad=True)], "lr": -1.0})
    with pytest.raises(TypeError, match="a parameter group is a dict with 'params'"):
        opt.add_param_group([ts.tensor([1.0], requires_grad=True)])
    assert len(opt.param_groups) == 2  # (the refused groups left nothing behind)


# -- the schedules, against PyTorch's ----------------------------------------------------------------
SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),  # (5 twice: gamma**2 there)
    ("ExponentialLR", dict(gamma=0.8)),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),  # (14 epochs: down, up, down, up)
    ("CosineAnnealingLR", dict(T_max=3)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (e + 1))),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.9 ** e, lambda e: min(1.0, (e + 1) / 4)])),
    ("LinearLR", dict(start_factor=0.2, end_factor=0.9, total_iters=8)),
    ("ConstantLR", dict(factor=0.4, total_iters=3)),
]


@pytest.mark.parametrize("name, kw", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_every_schedule_gives_pytorchs_lrs_epoch_by_epoch_with_two_groups_and_a_hand_set_lr(name, kw, torch):
    a, b = ts.tensor([1.0], requires_grad=True), ts.tensor([2.0], requires_grad=True)
    ta, tb = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.3}], lr=1.0)
    topt = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.3}], lr=1.0)
    sched = getattr(optim.lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13)
    for epoch in range(14):
        if epoch == 6:  # (an lr set by hand: the chained schedules carry on from it, as PyTorch's)
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.05
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12), epoch
    assert sched.last_epoch == tsched.last_epoch == 14


OTHER_SETTINGS = {"StepLR": dict(step_size=7, gamma=0.9), "MultiStepLR": dict(milestones=[1], gamma=0.9),
                  "ExponentialLR": dict(gamma=0.5), "CosineAnnealingLR": dict(T_max=9, eta_min=0.2),
                  "LambdaLR": dict(lr_lambda=lambda e: 1.0 / (e + 1))}


@pytest.mark.parametrize("name, kw", SCHEDULES[:6], ids=[n for n, _ in SCHEDULES[:6]])
def test_a_schedule_restored_through_a_checkpoint_goes_on_as_the_original(name, kw, tmp_path):
    def make(settings):
        opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.5)
        return opt, getattr(optim, name)(opt, **settings)
    opt, sched = make(kw)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    assert set(state) == {*sched._options, "last_epoch", "base_lrs"} and {k for k in kw if k != "lr_lambda"} <= set(state)
    ts.save({"sched": state, "opt": opt.state_dict()}, tmp_path / "run.ckpt")
    opt2, sched2 = make(OTHER_SETTINGS[name])  # (built with other settings: the state's win, as in PyTorch)
    saved = ts.load(tmp_path / "run.ckpt")
    opt2.load_state_dict(saved["opt"])  # (the optimizer's state brings the lr back)
    sched2.load_state_dict(saved["sched"])
    if name == "LambdaLR":  # (its function is not in the state: it is the one it was built with)
        sched2.lr_lambdas, sched2._one = sched.lr_lambdas, sched._one
    for _ in range(9):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()


def test_a_group_added_after_the_schedule_began_is_scheduled_from_its_own_lr():
    a, b = ts.tensor([1.0], requires_grad=True), ts.tensor([1.0], requires_grad=True)
    opt = optim.SGD([a], lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=4)
    sched.step()
    opt.add_param_group({"params": [b], "lr": 0.2})
    for _ in range(3):
        sched.step()
    assert sched.base_lrs == [1.0, 0.2]
    # the new group follows the cosine from its own lr: cos-ratio steps from epoch 1 to 4
    expected = 0.2 * (1 + np.cos(np.pi * 4 / 4)) / (1 + np.cos(np.pi * 1 / 4))
    assert sched.get_last_lr() == pytest.approx([0.0, expected], abs=1e-15)
    sched.load_state_dict({"last_epoch": 4, "base_lrs": [1.0]})  # (a state from before b joined)
    assert sched.base_lrs == [1.0]
    sched.step()
    assert sched.base_lrs == [1.0, opt.param_groups[1]["lr"]]


@pytest.mark.parametrize("make, match", [
    (lambda o: optim.MultiStepLR(o, [3, 0]), "milestones must be ints >= 1"),
    (lambda o: optim.MultiStepLR(o, 3), "milestones is a list of epochs"),
    (lambda o: optim.MultiStepLR(o, [2.5]), "milestones must be ints"),
    (lambda o: optim.ExponentialLR(o, gamma=-1), "ExponentialLR: gamma must be >= 0"),
    (lambda o: optim.ExponentialLR(o, gamma=True), "gamma must be a number"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), "T_max must be an int >= 1"),
    (lambda o: optim.CosineAnnealingLR(o, T_max=5, eta_min=float("inf")), "eta_min must be >= 0"),
    (lambda o: optim.StepLR(o, step_size=2.0), "step_size must be an int >= 1"),
    (lambda o: optim.LambdaLR(o, [lambda e: 1.0] * 2), r"a list of 1 \(one per parameter group\)"),
    (lambda o: optim.LambdaLR(o, 0.5), "lr_lambda is a function of the epoch"),
    (lambda o: optim.LambdaLR(o, lambda e: float("nan")), r"lr_lambda\(0\) gave nan"),
    (lambda o: optim.StepLR(o.param_groups, 2), "schedules an optimizer's lr, got a list"),
])
def test_bad_schedule_settings_are_refused_by_name(make, match):
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises((TypeError, ValueError), match=match):
        make(opt)
    assert opt.param_groups[0]["lr"] == 0.1


def test_a_schedule_refuses_a_bad_state_whole():
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1)
    sched = optim.MultiStepLR(opt, [2, 4], 0.5)
    sched.step()
    before = {k: (list(v) if isinstance(v, list) else v) for k, v in vars(sched).items()}
    for state in ({"last_epoch": 3, "base_lrs": [0.1], "milestones": [0]},
                  {"last_epoch": 3, "base_lrs": ["0.1"]},
                  {"last_epoch": 3, "base_lrs": [0.1], "gamma": -2}):
        with pytest.raises((TypeError, ValueError)):
            sched.load_state_dict(state)
        assert vars(sched) == before


def test_the_schedules_are_found_under_optim_lr_scheduler_as_in_pytorch():
    from tinygrad_sm.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LRScheduler, MultiStepLR
    assert CosineAnnealingLR is optim.CosineAnnealingLR and issubclass(LambdaLR, LRScheduler)
    assert issubclass(MultiStepLR, optim.LRScheduler) and "StepLR" in optim.lr_scheduler.__doc__


# -- parameter groups: labels, sets --------------------------------------------------------------
def test_a_group_may_carry_labels_that_survive_a_checkpoint_but_a_misspelt_option_is_refused(tmp_path):
    a, b = ts.tensor([1.0], requires_grad=True), ts.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a], "name": "body"}, {"params": [b], "name": "head", "lr": 0.5}],
                    lr=0.1, momentum=0.9)
    assert [g["name"] for g in opt.param_groups] == ["body", "head"]
    ts.save(opt.state_dict(), tmp_path / "opt.ckpt")
    other = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    other.load_state_dict(ts.load(tmp_path / "opt.ckpt"))
    assert [g["name"] for g in other.param_groups] == ["body", "head"] and other.param_groups[1]["lr"] == 0.5
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['momentun'\]; 'momentun': did you mean 'momentum'\?"):
        opt.add_param_group({"params": [ts.tensor([1.0], requires_grad=True)], "momentun": 0.9})
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['betas'\]"):  # (Adam's, given to SGD)
        optim.SGD([{"params": [ts.tensor([1.0], requires_grad=True)], "betas": (0.9, 0.99)}], lr=0.1)
    assert len(opt.param_groups) == 2


def test_parameters_in_a_set_are_refused_for_their_order():
    ps = {ts.tensor([1.0], requires_grad=True), ts.tensor([2.0], requires_grad=True)}
    with pytest.raises(TypeError, match=r"no fixed order.*pass a list"):
        optim.SGD(ps, lr=0.1)
    opt = optim.SGD([ts.tensor([0.0], requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match=r"no fixed order"):
        opt.add_param_group({"params": ps})


def test_schedules_print_their_settings_and_lambda_lr_takes_a_0_d_array():
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=1.0)
    assert repr(optim.LambdaLR(opt, lambda e: np.float64(0.5) * np.ones(())))  == "LambdaLR(last_epoch=0)"
    assert opt.param_groups[0]["lr"] == 0.5
    assert repr(optim.StepLR(opt, 3)) == "StepLR(step_size=3, gamma=0.1, last_epoch=0)"
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['beta'\]"):
        optim.SGD([{"params": [ts.tensor([1.0], requires_grad=True)], "beta": [0.9, 0.9]}], lr=0.1)
    with pytest.raises(TypeError, match="not numbers or flags"):
        optim.SGD([{"params": [ts.tensor([1.0], requires_grad=True)], "frozen": False}], lr=0.1)


@pytest.mark.parametrize("kw", [dict(patience=2, factor=0.5), dict(mode="max", patience=1, cooldown=2, factor=0.3),
                                dict(patience=0, threshold=0.1, threshold_mode="abs", min_lr=[0.02, 0.1]),
                                dict(patience=1, threshold=0.05, min_lr=0.05, eps=0.02)])
def test_reduce_lr_on_plateau_cuts_when_pytorchs_does(kw, torch):
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.89, 0.899, 0.5, float("nan"), 0.6, 0.6, 0.6, 0.7, 0.4, 0.4, 0.4]
    a, b = ts.tensor([1.0], requires_grad=True), ts.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.4}], lr=1.0)
    topt = torch.optim.SGD([{"params": [torch.ones(1, requires_grad=True)]},
                            {"params": [torch.ones(1, requires_grad=True)], "lr": 0.4}], lr=1.0)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    for m in metrics:
        topt.step()
        sched.step(m)
        tsched.step(m)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups], rel=1e-12)
        assert (sched.num_bad_epochs, sched.cooldown_counter) == (tsched.num_bad_epochs, tsched.cooldown_counter)
    assert opt.param_groups[0]["lr"] < 1.0  # (it did cut)
    other = optim.ReduceLROnPlateau(optim.SGD([{"params": [a]}, {"params": [b]}], lr=1.0), mode="max", cooldown=5)
    other.optimizer.load_state_dict(opt.state_dict())
    other.load_state_dict(sched.state_dict())
    assert other.state_dict() == sched.state_dict()  # (every setting and counter, not the defaults it was built with)
    for m in (0.3, 0.3, 0.3, 0.2, 0.3, 0.3):  # (and it goes on as the original)
        sched.step(m)
        other.step(m)
        assert [g["lr"] for g in other.optimizer.param_groups] == [g["lr"] for g in opt.param_groups]


@pytest.mark.parametrize("make, match", [
    (lambda o: optim.ReduceLROnPlateau(o, factor=1.0), "factor must be below 1"),
    (lambda o: optim.ReduceLROnPlateau(o, mode="lowest"), "mode is 'min' or 'max'"),
    (lambda o: optim.ReduceLROnPlateau(o, patience=-1), "patience must be an int >= 0"),
    (lambda o: optim.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), "min_lr has 2 values for 1 parameter groups"),
    (lambda o: optim.ReduceLROnPlateau(o).step(), r"step\(metric\) needs the metric"),
])
def test_reduce_lr_on_plateau_refuses_bad_settings(make, match):
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises((TypeError, ValueError), match=match):
        make(opt)
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("name, change, match", [
    ("ReduceLROnPlateau", {"best": "x"}, "best must be a number"),
    ("ReduceLROnPlateau", {"min_lr": [0.1, 0.2, 0.3]}, "min_lr has 3 values for 1 parameter groups"),
    ("ReduceLROnPlateau", {"mode": "lowest"}, "mode is 'min' or 'max'"),
    ("OneCycleLR", {"max_lrs": [0.1, 0.2]}, "max_lr has 2 values for 1 parameter groups"),
    ("OneCycleLR", {"anneal_strategy": "step"}, "anneal_strategy is 'cos' or 'linear'"),
    ("OneCycleLR", {"pct_start": 1.5}, "pct_start must be"),
])
def test_a_refused_state_leaves_the_schedule_as_it_was(name, change, match):
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
    sched = (optim.ReduceLROnPlateau(opt, patience=0) if name == "ReduceLROnPlateau"
             else optim.OneCycleLR(opt, max_lr=0.5, total_steps=10))
    sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
    before = sched.state_dict()
    with pytest.raises((TypeError, ValueError), match=match):
        sched.load_state_dict({**before, **change})
    assert sched.state_dict() == before


def test_reduce_lr_on_plateau_takes_a_loss_tensor_and_survives_a_checkpoint(tmp_path):
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, patience=0, min_lr=[0.2])
    sched.step(ts.tensor(1.0))
    sched.step(ts.tensor([2.0]))  # (worse: cut to 0.1, floored at 0.2)
    assert opt.param_groups[0]["lr"] == 0.2 and sched.best == 1.0
    ts.save(sched.state_dict(), tmp_path / "s.ckpt")
    other = optim.ReduceLROnPlateau(optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=1.0))
    other.load_state_dict(ts.load(tmp_path / "s.ckpt"))
    assert (other.min_lr, other.patience, other.last_epoch, other.best) == ([0.2], 0, 2, 1.0)


@pytest.mark.parametrize("opt_name, kw", [
    ("SGD", dict(max_lr=[0.5, 0.2], total_steps=23)),
    ("SGD", dict(max_lr=0.3, epochs=4, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.25)),
    ("SGD", dict(max_lr=0.3, total_steps=17, three_phase=True, div_factor=10.0, final_div_factor=100.0)),
    ("Adam", dict(max_lr=0.01, total_steps=12, base_momentum=0.8, max_momentum=0.9)),
    ("SGD", dict(max_lr=0.3, total_steps=9, cycle_momentum=False)),
])
def test_one_cycle_gives_pytorchs_lr_and_momentum_every_step(opt_name, kw, torch):
    ours = [ts.tensor([1.0], requires_grad=True), ts.tensor([1.0], requires_grad=True)]
    theirs = [torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)]
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    opt = getattr(optim, opt_name)([{"params": [ours[0]]}, {"params": [ours[1]]}], lr=0.1, **extra)
    topt = getattr(torch.optim, opt_name)([{"params": [theirs[0]]}, {"params": [theirs[1]]}], lr=0.1, **extra)
    sched, tsched = optim.OneCycleLR(opt, **kw), torch.optim.lr_scheduler.OneCycleLR(topt, **kw)
    key = "betas" if opt_name == "Adam" else "momentum"

    def state(o):  # (lr, momentum) of each group, flat
        return [v for g in o.param_groups for v in (g["lr"], g[key][0] if key == "betas" else g[key])]
    assert state(opt) == pytest.approx(state(topt), rel=1e-12)
    while tsched.last_epoch < tsched.total_steps:
        topt.step()
        sched.step()
        tsched.step()
        assert state(opt) == pytest.approx(state(topt), rel=1e-12), sched.last_epoch
    with pytest.raises(ValueError):
        tsched.step()
    with pytest.raises(ValueError, match="past its total_steps"):
        sched.step()


def test_one_cycle_refuses_what_it_cannot_schedule():
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="give total_steps, or epochs and steps_per_epoch"):
        optim.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="max_lr has 2 values for 1 parameter groups"):
        optim.OneCycleLR(opt, max_lr=[0.1, 0.2], total_steps=5)
    with pytest.raises(ValueError, match="anneal_strategy is 'cos' or 'linear'"):
        optim.OneCycleLR(opt, max_lr=0.1, total_steps=5, anneal_strategy="step")
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.0


def test_one_cycle_restored_from_its_state_goes_on_as_the_original(tmp_path):
    def make(**kw):
        opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
        return opt, optim.OneCycleLR(opt, **kw)
    opt, sched = make(max_lr=0.4, total_steps=20, three_phase=True)
    for _ in range(7):
        sched.step()
    opt2, sched2 = make(max_lr=0.1, total_steps=50)
    ts.save(sched.state_dict(), tmp_path / "s.ckpt")  # (the way a checkpoint carries it)
    sched2.load_state_dict(ts.load(tmp_path / "s.ckpt"))
    assert (sched2.total_steps, sched2.max_lrs, sched2.three_phase, sched2.last_epoch) == (20, [0.4], True, 7)
    for _ in range(13):
        sched.step()
        sched2.step()
        assert (opt2.param_groups[0]["lr"], opt2.param_groups[0]["momentum"]) == (
            opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])


def test_one_cycle_with_a_rise_of_no_steps_goes_straight_to_max_lr():
    opt = optim.SGD([ts.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.1)  # (PyTorch: ZeroDivisionError)
    assert opt.param_groups[0]["lr"] == 1.0 and opt.param_groups[0]["momentum"] == 0.85
    for _ in range(9):  # (to the last step, 9: the lowest lr)
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 25 / 1e4)


SEQUENCES = {
    "warm-up then cosine": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 4), L.CosineAnnealingLR(o, T_max=6, eta_min=0.01)], [4]),
    "three in a row": lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 3), L.ExponentialLR(o, 0.8), L.StepLR(o, 2, 0.5)], [3, 7]),
    "lambda then milestones": lambda L, o: L.SequentialLR(o, [L.LambdaLR(o, lambda e: 0.5 + e / 10), L.MultiStepLR(o, [2, 4], 0.5)], [5]),
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_sequential_lr_gives_pytorchs_lrs_and_restores_from_its_state(name, torch, tmp_path):
    def lrs(lib, steps, opt_mod, sched_mod, params):
        opt = opt_mod.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.3}], lr=1.0)
        sched = SEQUENCES[name](sched_mod, opt)
        out = [sched.get_last_lr()]
        for _ in range(steps):
            if lib is torch:
                opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out, opt, sched

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (PyTorch's deprecation notes about step(0))
        want, _, _ = lrs(torch, 14, torch.optim, torch.optim.lr_scheduler, [torch.ones(1, requires_grad=True) for _ in range(2)])
    got, opt, sched = lrs(ts, 14, optim, optim.lr_scheduler, [ts.ones(1, requires_grad=True) for _ in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-13)
    # stopped after 6 epochs, saved, restored into a fresh one: the rest as the original
    _, opt6, sched6 = lrs(ts, 6, optim, optim.lr_scheduler, [ts.ones(1, requires_grad=True) for _ in range(2)])
    ts.save({"opt": opt6.state_dict(), "sched": sched6.state_dict()}, tmp_path / "s.ckpt")
    _, opt2, sched2 = lrs(ts, 0, optim, optim.lr_scheduler, [ts.ones(1, requires_grad=True) for _ in range(2)])
    saved = ts.load(tmp_path / "s.ckpt")
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    rest = []
    for _ in range(8):
        sched2.step()
        rest.append(sched2.get_last_lr())
    np.testing.assert_allclose(rest, got[7:], rtol=1e-13)


@pytest.mark.parametrize("make, match", [
    (lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), optim.ExponentialLR(o, 0.9)], [3, 4]), "milestones must be 1"),
    (lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), optim.ExponentialLR(o, 0.9)], [0]), "increasing ints >= 1"),
    (lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), "cosine"], [3]), "a non-empty list of schedules"),
    (lambda o: optim.SequentialLR(o, [optim.ReduceLROnPlateau(o)], []), "ReduceLROnPlateau cannot be one"),
    (lambda o: optim.SequentialLR(o, [optim.StepLR(optim.SGD([ts.ones(1, requires_grad=True)], lr=0.1), 2)], []),
     "must schedule the optimizer it is given"),
    (lambda o: optim.LinearLR(o, start_factor=0), r"start_factor must be in \(0, 1\]"),
    (lambda o: optim.LinearLR(o, total_iters=0), "total_iters must be an int >= 1"),
    (lambda o: optim.ConstantLR(o, factor=1.5), r"factor must be in \(0, 1\]"),
])
def test_bad_warm_up_and_sequence_settings_are_refused(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make(optim.SGD([ts.ones(1, requires_grad=True)], lr=0.1))


def test_a_sequence_refuses_a_state_that_does_not_fit_and_keeps_its_own():
    opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=1.0)
    seq = optim.SequentialLR(opt, [optim.LinearLR(opt, 0.5, total_iters=2), optim.ExponentialLR(opt, 0.5)], [2])
    for _ in range(3):
        seq.step()
    before = seq.state_dict()
    bad = {**before, "_schedulers": [before["_schedulers"][0], {**before["_schedulers"][1], "gamma": -1.0}]}
    with pytest.raises(ValueError, match="gamma"):
        seq.load_state_dict(bad)
    assert seq.state_dict() == before
    with pytest.raises(ValueError, match="milestones"):
        seq.load_state_dict({**before, "milestones": [5]})
