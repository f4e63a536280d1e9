"""Learning-rate schedules (tinygrad_sm/lr_scheduler.py): PyTorch's lrs (and momenta) step for
step, with parameter groups and an lr set by hand; state save/restore; combinations; bad settings."""
import math
import warnings

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import optim

from .test_optim import _problem


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
    assert sched.base_lrs == [1.0, 0.2]  # (b's lr when the schedule first took it: its initial_lr)
    assert opt.param_groups[1]["initial_lr"] == 0.2


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
    "constant then polynomial": lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 2), L.PolynomialLR(o, 5, 2.0)], [3]),
    "warm-up then multiplicative": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.25, 1.0, 3), L.MultiplicativeLR(o, lambda e: 0.8)], [3]),
    "multiplicative first": lambda L, o: L.SequentialLR(o, [L.MultiplicativeLR(o, lambda e: 0.95), L.ExponentialLR(o, 0.5)], [4]),
    "warm-up, restarts, step": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.25, 1.0, 3), L.CosineAnnealingWarmRestarts(o, 2, 2, 0.01),
                                                               L.StepLR(o, 2)], [3, 9]),
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
    rest = _lrs_after_a_resume(lambda n: lrs(ts, n, optim, optim.lr_scheduler,
                                             [ts.ones(1, requires_grad=True) for _ in range(2)]), 6, 8, tmp_path)
    np.testing.assert_allclose(rest, got[7:], rtol=1e-13)


def _lrs_after_a_resume(run, stop, more, tmp_path):
    """The lrs of `more` epochs after a run of `stop` epochs was saved and restored into a fresh
    one (run(epochs) gives (lrs, optimizer, schedule))."""
    _, opt, sched = run(stop)
    ts.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.ckpt")
    _, opt2, sched2 = run(0)
    saved = ts.load(tmp_path / "s.ckpt")
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    rest = []
    for _ in range(more):
        sched2.step()
        rest.append(sched2.get_last_lr())
    return rest


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


# -- PolynomialLR, MultiplicativeLR, CosineAnnealingWarmRestarts, CyclicLR, ChainedScheduler ---------
MORE_SCHEDULES = [
    ("PolynomialLR", dict(total_iters=9, power=2.0)),
    ("PolynomialLR", dict(total_iters=4)),  # (0 from epoch 4 on, an lr set by hand after that kept)
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9)),
    ("MultiplicativeLR", dict(lr_lambda=[lambda e: 0.95 ** (e % 3), lambda e: 1.1])),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4)),
]


def _two_groups(lib, mod, **extra):
    """An SGD of two one-element parameters, lr 1.0 and 0.3 (PyTorch's or ours)."""
    ps = [lib.ones(1, requires_grad=True) for _ in range(2)]
    return mod.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.3}], lr=1.0, **extra)


@pytest.mark.parametrize("name, kw", MORE_SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MORE_SCHEDULES)])
def test_the_newer_schedules_give_pytorchs_lrs_with_two_groups_and_a_hand_set_lr(name, kw, torch):
    opt, topt = _two_groups(ts, optim), _two_groups(torch, torch.optim)
    sched = getattr(optim.lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13)
    for epoch in range(16):
        if epoch == 6:  # (the chained ones carry on from it; the closed forms replace it)
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.05
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15), epoch
    assert sched.last_epoch == tsched.last_epoch == 16


@pytest.mark.parametrize("T_0, T_mult", [(2, 1), (3, 2), (1, 3)])
def test_warm_restarts_stepped_by_fractional_epochs_give_pytorchs_lrs(T_0, T_mult, torch):
    opt, topt = _two_groups(ts, optim), _two_groups(torch, torch.optim)
    sched = optim.CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min=0.02)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0, T_mult, eta_min=0.02)
    for epoch in range(12):
        for i in range(5):  # (five batches an epoch: step(epoch + i / 5), as PyTorch's docs show)
            topt.step()
            sched.step(epoch + i / 5)
            tsched.step(epoch + i / 5)
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15), (epoch, i)
            assert (sched.last_epoch, sched.T_i) == (tsched.last_epoch, tsched.T_i)
            assert sched.T_cur == pytest.approx(tsched.T_cur, abs=1e-12)
    sched.step()  # (and on from there one epoch at a time)
    tsched.step()
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15)


def test_warm_restarts_go_back_to_the_base_lr_at_every_restart_where_pytorchs_log_can_miss(torch):
    """PyTorch finds the cycle of a given epoch with a floating-point log, which at some restarts
    (epoch 121 for T_0=1, T_mult=3: log(243, 3) = 4.999...) lands in the cycle before, at eta_min.
    Here the cycles are counted off exactly: every restart starts at the base lr."""
    opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=1.0)
    sched = optim.CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=3)
    start, length = 0, 1
    for _ in range(8):
        start, length = start + length, length * 3
        sched.step(start)
        assert (sched.get_last_lr(), sched.T_cur, sched.T_i) == ([1.0], 0, length)
    topt = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=1.0)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=1, T_mult=3)
    tsched.step(121)
    assert tsched.get_last_lr() == [0.0]  # (PyTorch's: the end of the cycle of 81, not the start of 243's)


CYCLIC = [
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("SGD", dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, step_size_down=5, mode="triangular2",
                 base_momentum=[0.7, 0.8], max_momentum=0.95)),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=2.5, mode="exp_range", gamma=0.97)),
    ("Adam", dict(base_lr=0.001, max_lr=0.01, step_size_up=3, base_momentum=0.85, max_momentum=0.95)),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda x: 1 / (1 + x), scale_mode="cycle")),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda x: 0.99 ** x, scale_mode="iterations")),
    ("Adagrad", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=0, cycle_momentum=False)),
]


@pytest.mark.parametrize("opt_name, kw", CYCLIC, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CYCLIC)])
def test_cyclic_lr_gives_pytorchs_lr_and_momentum_every_batch(opt_name, kw, torch):
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    opt, topt = getattr(optim, opt_name), getattr(torch.optim, opt_name)
    ours = opt([{"params": [ts.ones(1, requires_grad=True)]}, {"params": [ts.ones(1, requires_grad=True)]}], lr=0.5, **extra)
    theirs = topt([{"params": [torch.ones(1, requires_grad=True)]}, {"params": [torch.ones(1, requires_grad=True)]}],
                  lr=0.5, **extra)
    sched, tsched = optim.CyclicLR(ours, **kw), torch.optim.lr_scheduler.CyclicLR(theirs, **kw)

    def state(o):  # lr and momentum (or beta1) of each group
        return [v for g in o.param_groups for v in (g["lr"], g["betas"][0] if "betas" in g else g.get("momentum", 0.0))]
    assert state(ours) == pytest.approx(state(theirs), rel=1e-12)
    for batch in range(30):
        theirs.step()
        sched.step()
        tsched.step()
        assert state(ours) == pytest.approx(state(theirs), rel=1e-12), batch


def test_cyclic_lr_restored_from_its_state_goes_on_as_the_original(tmp_path):
    def make(**kw):
        opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=0.1, momentum=0.9)
        return opt, optim.CyclicLR(opt, **kw)
    opt, sched = make(base_lr=0.01, max_lr=0.2, step_size_up=3, step_size_down=4, mode="triangular2")
    for _ in range(9):
        sched.step()
    ts.save(sched.state_dict(), tmp_path / "s.ckpt")
    opt2, sched2 = make(base_lr=0.05, max_lr=0.1, step_size_up=10)
    sched2.load_state_dict(ts.load(tmp_path / "s.ckpt"))
    assert (sched2.total_size, sched2.mode, sched2.base_lrs, sched2.last_epoch) == (7.0, "triangular2", [0.01], 9)
    for _ in range(12):
        sched.step()
        sched2.step()
        assert (opt2.param_groups[0]["lr"], opt2.param_groups[0]["momentum"]) == (
            opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])


CHAINS = {
    "constant and exponential": lambda L, o: [L.ConstantLR(o, 0.1, total_iters=2), L.ExponentialLR(o, 0.9)],
    "warm-up and cosine": lambda L, o: [L.LinearLR(o, 0.2, total_iters=3), L.CosineAnnealingLR(o, T_max=4, eta_min=0.01)],
    "constant then lambda": lambda L, o: [L.ConstantLR(o, 0.5, total_iters=3), L.LambdaLR(o, lambda e: 0.9 ** e)],
    "step and polynomial": lambda L, o: [L.StepLR(o, 2, 0.5), L.PolynomialLR(o, total_iters=8, power=0.5)],
    "warm-up and restarts": lambda L, o: [L.LinearLR(o, 0.2, 0.9, 6), L.CosineAnnealingWarmRestarts(o, 3, 2, 0.001)],
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_chained_scheduler_gives_pytorchs_lrs_and_restores_from_its_state(name, torch, tmp_path):
    def lrs(lib, mod, steps):
        opt = _two_groups(lib, mod)
        sched = mod.lr_scheduler.ChainedScheduler(CHAINS[name](mod.lr_scheduler, opt))
        out = [sched.get_last_lr()]
        for _ in range(steps):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out, opt, sched

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, _, _ = lrs(torch, torch.optim, 12)
    got, _, _ = lrs(ts, optim, 12)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    rest = _lrs_after_a_resume(lambda n: lrs(ts, optim, n), 5, 7, tmp_path)
    np.testing.assert_allclose(rest, got[6:], rtol=1e-13)


def test_a_second_schedule_of_an_optimizer_starts_from_the_first_ones_base_lr_as_in_pytorch(torch):
    """PyTorch keeps each group's lr from when the optimizer's first schedule was made
    ("initial_lr"); a later schedule's closed form starts from it, not from the lr it finds."""
    def lrs(mod):
        opt = _two_groups(ts if mod is optim else torch, mod)
        mod.lr_scheduler.ConstantLR(opt, 0.5, total_iters=2)  # (halves the lr now)
        sched = mod.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (e + 1))
        out = [sched.get_last_lr()]
        for _ in range(3):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out, sched.base_lrs
    got, base = lrs(optim)
    want, tbase = lrs(torch.optim)
    assert base == tbase == [1.0, 0.3]
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("make, match", [
    (lambda o: optim.CosineAnnealingWarmRestarts(o, T_0=0), "T_0 must be an int >= 1"),
    (lambda o: optim.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), "T_mult must be an int >= 1"),
    (lambda o: optim.CosineAnnealingWarmRestarts(o, T_0=2).step(-1), "epoch must be a number >= 0"),
    (lambda o: optim.CosineAnnealingWarmRestarts(o, T_0=2).step(math.nan), "epoch must be a number >= 0"),
    (lambda o: optim.PolynomialLR(o, total_iters=0), "total_iters must be an int >= 1"),
    (lambda o: optim.PolynomialLR(o, power=-1.0), "power must be >= 0"),
    (lambda o: optim.MultiplicativeLR(o, [lambda e: 1.0] * 2), r"a list of 1 \(one per parameter group\)"),
    (lambda o: optim.MultiplicativeLR(o, lambda e: math.inf).step(), r"lr_lambda\(1\) gave inf"),
    (lambda o: optim.CyclicLR(o, 0.01, 0.1, mode="triangle"), "mode is one of 'triangular'"),
    (lambda o: optim.CyclicLR(o, 0.01, 0.1, step_size_up=0), "step_size_up must be > 0"),
    (lambda o: optim.CyclicLR(o, 0.01, [0.1, 0.2]), "max_lr has 2 values for 1 parameter groups"),
    (lambda o: optim.CyclicLR(o, 0.01, 0.1, scale_mode="epochs", scale_fn=lambda x: 1.0), "scale_mode is 'cycle'"),
    (lambda o: optim.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: math.nan), r"scale_fn\(1\) gave nan"),
    (lambda o: optim.ChainedScheduler([]), "a non-empty list of schedules"),
    (lambda o: optim.ChainedScheduler([optim.StepLR(o, 2), optim.ReduceLROnPlateau(o)]), "ReduceLROnPlateau cannot"),
    (lambda o: optim.ChainedScheduler([optim.StepLR(o, 2), optim.StepLR(optim.SGD([ts.ones(1, requires_grad=True)],
                                                                                      lr=0.1), 2)]),
     "must schedule the optimizer it is given"),
    (lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), optim.CyclicLR(o, 0.01, 0.1)], [3]), "CyclicLR cannot"),
    (lambda o: optim.SequentialLR(o, [optim.ChainedScheduler([optim.StepLR(o, 2)]), optim.StepLR(o, 2)], [3]),
     "ChainedScheduler cannot"),
])
def test_bad_settings_of_the_newer_schedules_are_refused_by_name(make, match):
    opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises((TypeError, ValueError), match=match):
        make(opt)


def test_cyclic_lr_refuses_to_cycle_a_momentum_the_optimizer_lacks_and_changes_nothing():
    opt = optim.Adagrad([ts.ones(1, requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match="give cycle_momentum=False"):
        optim.CyclicLR(opt, 0.01, 0.1)
    assert opt.param_groups[0]["lr"] == 0.5


def test_warm_restarts_state_carries_the_cycle_and_a_bad_one_is_refused_whole(tmp_path, torch):
    opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=1.0)
    sched = optim.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    assert (state["T_i"], state["T_cur"], state["last_epoch"]) == (4, 2, 4)
    opt2 = optim.SGD([ts.ones(1, requires_grad=True)], lr=1.0)
    sched2 = optim.CosineAnnealingWarmRestarts(opt2, T_0=5)
    before = sched2.state_dict()
    with pytest.raises(ValueError, match="T_cur a number in"):
        sched2.load_state_dict({**state, "T_cur": 9})
    assert sched2.state_dict() == before
    sched2.load_state_dict(state)
    for _ in range(5):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    # PyTorch's own state dict loads as well (its extra keys are not ours: left alone)
    topt = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=1.0)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2, eta_min=0.1)
    for _ in range(5):
        topt.step()
        tsched.step()
    sched2.load_state_dict(tsched.state_dict())
    for _ in range(6):
        topt.step()
        tsched.step()
        sched2.step()
        assert sched2.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13)


def _after_plateau_cut(L, o):
    plateau = L.ReduceLROnPlateau(o, patience=0, factor=0.1)
    for loss in (1.0, 2.0):  # (the second is worse: lr * 0.1)
        plateau.step(loss)
    return L.LambdaLR(o, lambda e: 1.0)


def _after_one_cycle(L, o):
    L.OneCycleLR(o, max_lr=1.0, total_steps=10, cycle_momentum=False)
    return L.LambdaLR(o, lambda e: 1.0 / (e + 1))


@pytest.mark.parametrize("make", [_after_plateau_cut, _after_one_cycle], ids=["plateau", "one-cycle"])
def test_where_a_later_schedule_starts_is_pytorchs(make, torch):
    """ReduceLROnPlateau records no initial lr (a schedule made after it starts from the lr it
    cut to); OneCycleLR records its lowest lr as the initial one."""
    def lrs(lib, mod):
        opt = _two_groups(lib, mod)
        sched = make(mod.lr_scheduler, opt)
        out = [sched.get_last_lr()]
        for _ in range(4):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = lrs(torch, torch.optim)
    np.testing.assert_allclose(lrs(ts, optim), want, rtol=1e-13)


def test_a_schedule_made_after_loading_an_optimizer_starts_from_the_saved_initial_lr(torch, tmp_path):
    """The initial lr travels with the optimizer's state (ours and PyTorch's): StepLR took the lr
    from 0.1 to 0.001, the run was saved, and a new schedule on the resumed optimizer starts from
    0.1, as in PyTorch. A state saved with no schedule drops it."""
    def run(lib, mod, load):
        opt = mod.SGD([lib.ones(1, requires_grad=True)], lr=0.1)
        sched = mod.lr_scheduler.StepLR(opt, 1, 0.1)
        for _ in range(2):
            opt.step()
            sched.step()
        fresh = mod.SGD([lib.ones(1, requires_grad=True)], lr=0.5)
        fresh.load_state_dict(load(opt.state_dict()))
        return mod.lr_scheduler.CosineAnnealingWarmRestarts(fresh, T_0=3).get_last_lr(), fresh

    def through_a_file(state):
        ts.save(state, tmp_path / "opt.ckpt")
        return ts.load(tmp_path / "opt.ckpt")
    ours, fresh = run(ts, optim, through_a_file)
    assert ours == run(torch, torch.optim, lambda st: st)[0] == [pytest.approx(0.1)]
    bare = optim.SGD([ts.ones(1, requires_grad=True)], lr=0.3)
    fresh.load_state_dict(bare.state_dict())  # (saved with no schedule: no initial lr)
    assert "initial_lr" not in fresh.param_groups[0]
    assert optim.CosineAnnealingWarmRestarts(fresh, T_0=3).get_last_lr() == [0.3]
    # PyTorch's optimizer state brings its initial lr too
    topt = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.2)
    tsched = torch.optim.lr_scheduler.ExponentialLR(topt, 0.5)
    topt.step()
    tsched.step()
    fresh.load_state_dict({"state": {}, "param_groups": [dict(g, params=[0]) for g in topt.state_dict()["param_groups"]]})
    assert (fresh.param_groups[0]["lr"], fresh.param_groups[0]["initial_lr"]) == (0.1, 0.2)


def test_cyclic_lr_refuses_a_bad_base_lr_or_scale_fn_and_leaves_the_groups_as_they_were():
    opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=0.5, momentum=0.7)
    before = [dict(g) for g in opt.param_groups]
    for make, match in [(lambda: optim.CyclicLR(opt, "a", 0.1), "base_lr must be a number"),
                        (lambda: optim.CyclicLR(opt, -1.0, 0.1), "base_lr must be >= 0"),
                        (lambda: optim.CyclicLR(opt, 0.01, [-0.1]), "max_lr must be >= 0"),
                        (lambda: optim.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1 / 0), "division by zero")]:
        with pytest.raises((TypeError, ValueError, ZeroDivisionError), match=match):
            make()
        assert opt.param_groups == before


def test_warm_restarts_find_a_far_epoch_at_once_and_exactly():
    opt = optim.SGD([ts.ones(1, requires_grad=True)], lr=1.0)
    flat = optim.CosineAnnealingWarmRestarts(opt, T_0=7)
    flat.step(10 ** 12 + 3.5)
    assert (flat.T_cur, flat.T_i) == ((10 ** 12 + 3.5) % 7, 7)
    growing = optim.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3)
    start = 2 * (3 ** 30 - 1) // 2  # (cycle 30 starts here, and is 2 * 3**30 long)
    for epoch, want in ((start, (0, 2 * 3 ** 30)), (start - 1, (2 * 3 ** 29 - 1, 2 * 3 ** 29))):
        growing.step(epoch)
        assert (growing.T_cur, growing.T_i) == want


PYTORCH_STATES = {
    "plateau": (lambda L, o: L.ReduceLROnPlateau(o, patience=1, factor=0.5, min_lr=[0.01, 0.02]), True),
    "sequence": (lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.5, total_iters=3), L.ExponentialLR(o, 0.9)], [3]),
                 False),
    "chain": (lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.5, total_iters=4), L.ExponentialLR(o, 0.9)]), False),
}


@pytest.mark.parametrize("name", list(PYTORCH_STATES))
@pytest.mark.parametrize("at", [1, 5])
def test_pytorchs_state_of_a_plateau_a_sequence_or_a_chain_loads_and_goes_on_as_pytorchs(name, at, torch):
    make, metric = PYTORCH_STATES[name]
    losses = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.85, 0.9, 0.95, 1.0]
    topt = _two_groups(torch, torch.optim)
    tsched = make(torch.optim.lr_scheduler, topt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in range(at):
            topt.step()
            tsched.step(losses[e]) if metric else tsched.step()
        opt = _two_groups(ts, optim)
        sched = make(optim.lr_scheduler, opt)
        sched.load_state_dict(tsched.state_dict())
        for g, tg in zip(opt.param_groups, topt.param_groups):
            g["lr"] = tg["lr"]  # (the optimizer's own state carries its lrs)
        for e in range(at, len(losses)):
            topt.step()
            for s in (sched, tsched):
                s.step(losses[e]) if metric else s.step()
            assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups],
                                                                       rel=1e-12), e
