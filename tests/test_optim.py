"""Optimizers: PyTorch's update rules step for step, state save/restore, bad options (the schedules:
test_lr_scheduler.py)."""
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
