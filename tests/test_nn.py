"""nn: modules, registration, state dicts, layers, and their agreement with PyTorch."""
import math

import numpy as np
import pytest

import tinygrad_sm as ts
import tinygrad_sm.nn.functional as F
from tinygrad_sm import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5, generator=0)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(5, 3, generator=1)
        self.scale = 2.0  # a plain attribute, not a parameter

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_parameters_are_registered_recursively_in_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [p.shape for p in m.parameters()] == [(5, 4), (5,), (3, 5), (3,)]
    assert all(p.requires_grad and p.is_leaf for p in m.parameters())
    assert m.scale == 2.0 and "scale" not in dict(m.named_parameters())


def test_shared_parameter_is_listed_once():
    m = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    m[1].weight = m[0].weight
    assert len(list(m.parameters())) == 3


def test_unknown_attribute_raises_attribute_error():
    m = TwoLayer()
    with pytest.raises(AttributeError, match="no attribute 'fc3'"):
        m.fc3
    assert not hasattr(m, "nope")


def test_forgetting_super_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_train_eval_and_zero_grad():
    m = TwoLayer()
    assert m.training and m.fc1.training
    m.eval()
    assert not m.training and not m.fc1.training
    m.train()
    assert m.fc2.training
    x = ts.Tensor(np.ones((2, 4), np.float32))
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_copies_and_loads_in_place():
    a, b = TwoLayer(), TwoLayer()
    for p in b.parameters():
        p.data[...] = 7
    w_before = a.fc1.weight.data
    a.load_state_dict(b.state_dict())
    assert a.fc1.weight.data is w_before  # in place: an optimizer holding it keeps working
    np.testing.assert_array_equal(a.fc1.weight.data, 7)
    sd = a.state_dict()
    sd["fc1.weight"][...] = 0  # a copy: changing it leaves the model alone
    assert (a.fc1.weight.data == 7).all()


def test_load_state_dict_is_strict_and_names_the_keys():
    m = TwoLayer()
    sd = m.state_dict()
    del sd["fc2.bias"]
    sd["fc9.weight"] = np.zeros(3)
    with pytest.raises(KeyError) as e:
        m.load_state_dict(sd)
    assert "fc2.bias" in str(e.value) and "fc9.weight" in str(e.value)
    m.load_state_dict(sd, strict=False)  # loads what matches


def test_load_state_dict_shape_mismatch_changes_nothing():
    m = TwoLayer()
    before = {k: v.copy() for k, v in m.state_dict().items()}
    sd = m.state_dict()
    sd["fc1.bias"] = np.ones(5, np.float32)
    sd["fc2.weight"] = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"fc2.weight has shape \(5, 3\).*\(3, 5\)"):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_rejects_nan():
    m = TwoLayer()
    sd = m.state_dict()
    sd["fc1.bias"][0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.load_state_dict(sd)


@pytest.mark.parametrize("init, check", [
    ("normal", lambda w: abs(w.std() - 0.01) < 0.001),
    ("kaiming", lambda w: abs(w.std() - np.sqrt(2 / 400)) < 0.005),
    ("xavier", lambda w: np.abs(w).max() <= np.sqrt(6 / 700) and w.std() > 0.8 * np.sqrt(2 / 700)),
    ("uniform", lambda w: np.abs(w).max() <= 1 / 20 and abs(w.std() - 1 / 20 / np.sqrt(3)) < 0.003),
])
def test_linear_inits(init, check):
    lin = nn.Linear(400, 300, init=init, generator=0)
    assert lin.weight.shape == (300, 400) and lin.weight.dtype == np.float32
    assert check(lin.weight.data)
    assert (lin.bias.data == 0).all()


def test_linear_is_seeded_and_rejects_bad_arguments():
    np.testing.assert_array_equal(nn.Linear(3, 2, generator=5).weight.data, nn.Linear(3, 2, generator=5).weight.data)
    with pytest.raises(ValueError, match="init must be one of"):
        nn.Linear(3, 2, init="zeros")
    with pytest.raises(ValueError, match="positive"):
        nn.Linear(0, 2)
    with pytest.raises(ValueError, match=r"shape \(2, 4\) needs a last dimension of 3"):
        nn.Linear(3, 2)(ts.Tensor(np.ones((2, 4), np.float32)))


def test_linear_without_bias():
    lin = nn.Linear(3, 2, bias=False, generator=0)
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(lin(ts.Tensor(x)).data, x @ lin.weight.data.T, rtol=1e-6)


def test_sequential_fuses_linear_relu_without_changing_results():
    rng = np.random.default_rng(0)
    seq = nn.MLP([6, 5, 4, 3], generator=0)
    x = rng.standard_normal((7, 6)).astype(np.float64)
    for p in seq.parameters():
        p.data = p.data.astype(np.float64)
    xt = ts.Tensor(x, requires_grad=True)
    F.cross_entropy(seq(xt), np.array([0, 1, 2, 0, 1, 2, 0])).backward()
    # the same layers applied one by one, unfused
    params = [ts.Tensor(p.data, requires_grad=True) for p in seq.parameters()]
    x2 = ts.Tensor(x, requires_grad=True)
    h = ts.relu(x2 @ params[0].T + params[1])
    h = ts.relu(h @ params[2].T + params[3])
    F.cross_entropy(h @ params[4].T + params[5], np.array([0, 1, 2, 0, 1, 2, 0])).backward()
    np.testing.assert_allclose(xt.grad.data, x2.grad.data, rtol=1e-12, atol=1e-14)
    for p, q in zip(seq.parameters(), params):
        np.testing.assert_allclose(p.grad.data, q.grad.data, rtol=1e-12, atol=1e-14)


def test_mlp_structure_and_errors():
    m = nn.MLP([784, 256, 10])
    assert [type(l).__name__ for l in m] == ["Linear", "ReLU", "Linear"]
    assert len(nn.MLP([2, 3, 4, 5], activation="tanh")) == 5
    with pytest.raises(ValueError, match="at least an input and an output"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.MLP([3, 2], activation="gelu")
    with pytest.raises(TypeError, match="argument 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)


def test_flatten_and_activations():
    x = ts.Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 12)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0)(x).shape == (24,)
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)), rtol=1e-6)
    np.testing.assert_array_equal(nn.ReLU()(x).data, np.maximum(x.data, 0))


def test_matches_pytorch_forward_and_gradients(torch):
    rng = np.random.default_rng(0)
    ours = nn.MLP([8, 6, 4], generator=0)
    theirs = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4))
    with torch.no_grad():
        for (_, p), q in zip(ours.named_parameters(), theirs.parameters()):
            q.copy_(torch.from_numpy(p.data))
    x = rng.standard_normal((5, 8)).astype(np.float32)
    y = np.array([0, 3, 1, 2, 3])
    F.cross_entropy(ours(ts.Tensor(x)), y).backward()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_parameter_or_module_replaces_a_plain_attribute_of_the_same_name():
    lin = nn.Linear(3, 4, bias=False)
    assert lin.bias is None
    lin.bias = nn.Parameter(np.ones(4, np.float32))
    assert isinstance(lin.bias, nn.Parameter)  # (the None left in __dict__ used to hide it)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(lin(ts.Tensor(np.zeros((1, 3), np.float32))).numpy(), np.ones((1, 4)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = None

    m = Net()
    m.head = nn.Linear(2, 2)
    assert isinstance(m.head, nn.Linear) and [n for n, _ in m.named_children()] == ["head"]
    with pytest.raises(TypeError, match="cannot assign a int to the sub-module 'head'"):
        m.head = 3  # (as PyTorch: a plain value would quietly take the layer out of the model)
    m.head = None  # None is how a layer is taken out
    assert m.head is None and list(m.named_children()) == []


def test_replacing_a_module_or_parameter_keeps_its_place():
    m = nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Linear(4, 2, generator=1))
    m[0] = nn.Linear(3, 4, generator=2)
    setattr(m, "2", nn.Linear(4, 2, generator=3))
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert m(ts.Tensor(np.ones((1, 3), np.float32))).shape == (1, 2)  # still Linear, ReLU, Linear
    net = TwoLayer()
    net.fc1 = nn.Linear(4, 5)
    net.fc1.weight = nn.Parameter(np.zeros((5, 4), np.float32))
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 module"):
        m[3] = nn.ReLU()
    with pytest.raises(TypeError, match="not a Module"):
        m[0] = lambda x: x


def test_a_slice_of_a_sequential_is_a_sequential_with_the_same_names():
    m = nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Linear(4, 2, generator=1))
    head = m[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is m[0]
    x = ts.Tensor(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(m[2:](head(x)).numpy(), m(x).numpy())
    assert list(m[2:].state_dict()) == ["2.weight", "2.bias"]
    assert len(m[5:]) == 0 and m[-1] is m[2]


def test_load_state_dict_returns_the_keys_that_did_not_match():
    net = TwoLayer()
    state = net.state_dict()
    assert net.load_state_dict(state) == ([], [])
    partial = {k: v for k, v in state.items() if not k.startswith("fc2.")}
    partial["extra.weight"] = np.zeros(3)
    keys = net.load_state_dict(partial, strict=False)
    assert keys.missing_keys == ["fc2.weight", "fc2.bias"] and keys.unexpected_keys == ["extra.weight"]
    assert isinstance(keys, nn.IncompatibleKeys)


def test_a_shared_layer_is_in_the_state_dict_under_each_name_as_in_pytorch(torch):
    layer = nn.Linear(3, 3, generator=0)
    net = nn.Sequential(layer, nn.ReLU(), layer)
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    tnet.append(tnet[0])
    assert list(net.state_dict()) == list(tnet.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(net.parameters())) == 2  # (listed once here, as PyTorch's parameters() does)
    state = net.state_dict()
    state["2.bias"] = np.full(3, 7.0)  # the last name given wins, as in PyTorch
    assert net.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(layer.bias.numpy(), np.full(3, 7.0, np.float32))
    del state["2.weight"]
    with pytest.raises(KeyError, match="missing keys: '2.weight'"):
        net.load_state_dict(state)


def test_to_double_and_float_convert_the_parameters_in_place_and_training_goes_on():
    net = TwoLayer()
    params = list(net.parameters())
    x = ts.Tensor(np.random.default_rng(0).standard_normal((6, 4)))  # float64 data
    with pytest.raises(ValueError, match=r"input is float64 but the weight is float32.*\.to\('float64'\)"):
        net(x)
    assert net.double() is net and list(net.parameters()) == params  # the same Parameter objects
    assert all(p.dtype == np.float64 for p in params)
    F.cross_entropy(net(x), ts.Tensor([0, 1, 2, 0, 1, 2])).backward()
    assert all(p.grad.dtype == np.float64 for p in params)
    before = net.state_dict()
    net.float()
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in params)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k].astype(np.float32))
    assert net.to("cpu") is net and params[0].dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to("int64")


@pytest.mark.parametrize("op", [lambda a, b: a @ b, lambda a, b: F.linear(a, b),
                                lambda a, b: F.linear(b, b, ts.Tensor(np.zeros(2)))])
def test_a_float64_operand_beside_float32_weights_is_refused_as_in_pytorch(op):
    """PyTorch raises for mixed float dtypes in matmul and linear; here too (else a float64
    batch would quietly run a float32 model in float64), naming both dtypes."""
    a = ts.Tensor(np.ones((2, 2)))  # float64
    b = ts.Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="float64.*float32|float32.*float64"):
        op(a, b)
    ints = ts.Tensor(np.ones((2, 2), np.int64))
    assert (ints @ b).dtype == np.float32  # integers beside floats still take the float's dtype


def test_lists_of_python_floats_take_the_tensors_float_dtype_in_matrix_products_too():
    x = ts.Tensor(np.ones((2, 2)))  # float64
    eye = [[1.0, 0.0], [0.0, 1.0]]
    assert (x @ eye).dtype == (eye @ x).dtype == F.matmul(x, eye).dtype == np.float64
    assert (ts.Tensor(np.ones((2, 2), np.float32)) @ eye).dtype == np.float32
    assert (x @ np.eye(2, dtype=np.float64)).dtype == np.float64  # (arrays keep theirs)


def test_a_bias_of_another_dtype_is_named_with_its_own_fix():
    w = ts.Tensor(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"bias is float64 but the weight is float32; convert the bias"):
        F.linear(w, w, ts.Tensor(np.zeros(2)))


@pytest.mark.parametrize("make", [lambda ps: ts.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: ts.optim.Adam(ps, lr=0.1)])
def test_an_optimizer_made_before_model_double_keeps_working(make):
    net = TwoLayer()
    opt = make(list(net.parameters()))
    x, y = np.random.default_rng(0).standard_normal((6, 4)), ts.Tensor([0, 1, 2, 0, 1, 2])
    F.cross_entropy(net(ts.Tensor(x, dtype="float32")), y).backward()
    opt.step()
    net.double()
    opt.zero_grad()
    F.cross_entropy(net(ts.Tensor(x)), y).backward()
    opt.step()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(v.dtype == np.float64 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))


def test_the_manual_sgd_step_of_pytorch_tutorials_updates_the_parameters_in_place():
    net = TwoLayer()
    params = dict(net.named_parameters())
    before = {k: p.numpy().copy() for k, p in params.items()}
    F.cross_entropy(net(ts.Tensor(np.ones((2, 4), np.float32))), ts.Tensor([0, 1])).backward()
    with ts.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
        net.fc1.weight -= 0.0  # (augmented assignment to an attribute: the same Parameter comes back)
    assert dict(net.named_parameters()) == params  # the same objects, still registered
    for k, p in params.items():
        np.testing.assert_allclose(p.numpy(), before[k] - 0.1 * p.grad.numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="cannot assign a plain Tensor to the parameter 'weight'"):
        net.fc1.weight = ts.zeros(5, 4)
    assert net.fc1.weight is params["fc1.weight"]
    net.fc1.weight = nn.Parameter(np.zeros((5, 4), np.float32))  # (a new Parameter is fine)
    assert net.fc1.weight is not params["fc1.weight"]


def test_the_loss_modules_identity_and_sequential_append_as_in_pytorch(torch):
    rng = np.random.default_rng(0)
    z, y, t = rng.standard_normal((5, 3)), rng.integers(0, 3, 5), rng.standard_normal((5, 3))
    for mod, tmod, args, targs in (
            (nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1),
             (z, y), (torch.tensor(z), torch.tensor(y))),
            (nn.CrossEntropyLoss(reduction="sum"), torch.nn.CrossEntropyLoss(reduction="sum"),
             (z, y), (torch.tensor(z), torch.tensor(y))),
            (nn.MSELoss(), torch.nn.MSELoss(), (z, t), (torch.tensor(z), torch.tensor(t)))):
        assert mod(ts.Tensor(args[0]), ts.Tensor(args[1])).item() == pytest.approx(tmod(*targs).item(), rel=1e-12)
    x = ts.Tensor(z)
    assert nn.Identity()(x) is x
    s = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    assert s.append(nn.Linear(4, 2)) is s and len(s) == 3 and s(ts.Tensor(z, dtype="float32")).shape == (5, 2)
    tail = s[1:]  # (named "1" and "2")
    tail.append(nn.Identity())
    assert list(tail.state_dict()) == ["2.weight", "2.bias"] and list(tail._modules) == ["1", "2", "3"]
    with pytest.raises(TypeError, match="takes a Module"):
        s.append(lambda v: v)


def test_module_list_and_a_sequential_of_named_layers_as_in_pytorch(torch):
    from collections import OrderedDict

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(3, 3, generator=i) for i in range(2))
            self.layers.append(nn.Linear(3, 1, generator=5))

        def forward(self, x):
            for layer in self.layers[:-1]:
                x = F.relu(layer(x))
            return self.layers[-1](x)

    net = Net()
    tnet = torch.nn.Module()
    tnet.layers = torch.nn.ModuleList([torch.nn.Linear(3, 3) for _ in range(2)])
    tnet.layers.append(torch.nn.Linear(3, 1))
    assert list(net.state_dict()) == list(tnet.state_dict())  # layers.0.weight, ...
    assert len(net.layers) == 3 and len(list(net.parameters())) == 6
    assert net(ts.Tensor(np.ones((2, 3), np.float32))).shape == (2, 1)
    net.layers[0] = nn.Identity()
    assert len(list(net.parameters())) == 4 and isinstance(net.layers[:2], nn.ModuleList)
    with pytest.raises(TypeError, match="takes Modules"):
        net.layers.append(3)
    seq = nn.Sequential(OrderedDict(fc=nn.Linear(3, 2, generator=0), act=nn.ReLU()))
    tseq = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(3, 2), act=torch.nn.ReLU()))
    assert list(seq.state_dict()) == list(tseq.state_dict()) == ["fc.weight", "fc.bias"]
    assert seq[0] is seq.fc and seq(ts.Tensor(np.ones((1, 3), np.float32))).shape == (1, 2)


# -- found by review on 2026-12-02 ------------------------------------------------------------------
def test_train_and_eval_go_through_each_childs_own_train(torch):
    class Frozen(nn.Module):  # a submodule that stays in eval mode, a common PyTorch pattern
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def train(self, mode=True):
            return super().train(False)

    class TFrozen(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def train(self, mode=True):
            return super().train(False)

    ours, theirs = nn.Sequential(nn.Linear(2, 2), Frozen()), torch.nn.Sequential(torch.nn.Linear(2, 2), TFrozen())
    ours.eval().train()
    theirs.eval().train()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()] == [True, True, False, False]
    with pytest.raises(ValueError, match="mode must be True or False"):
        ours.train("no")


def test_load_state_dict_refuses_values_that_overflow_the_parameters_dtype():
    layer = nn.Linear(3, 2)
    before = layer.weight.numpy().copy()
    state = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    state["weight"][0, 0] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match="weight contains NaN or inf once cast to the parameter's float32"):
        layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.weight.numpy(), before)


def test_assigning_a_non_module_to_a_submodules_name_is_an_error(torch):
    s = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="cannot assign a Tensor to the sub-module '0' of Sequential"):
        setattr(s, "0", ts.ones(2))
    assert len(list(s.parameters())) == 2
    with pytest.raises(TypeError, match="cannot assign"):
        setattr(torch.nn.Sequential(torch.nn.Linear(2, 2)), "0", torch.ones(2))
    setattr(s, "0", None)  # (None is allowed, as in PyTorch: the layer goes)
    assert list(s.parameters()) == []


def test_named_modules_lists_a_shared_layer_once(torch):
    lin = nn.Linear(2, 2)
    tlin = torch.nn.Linear(2, 2)
    names = [n for n, _ in nn.Sequential(lin, nn.ReLU(), lin).named_modules()]
    assert names == [n for n, _ in torch.nn.Sequential(tlin, torch.nn.ReLU(), tlin).named_modules()] == ["", "0", "1"]


def test_repr_keeps_extra_repr_beside_children():
    class WithK(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def extra_repr(self):
            return "k=3"

    assert repr(WithK()).splitlines()[:2] == ["WithK(", "  k=3"]


def test_sequential_names_with_dots_are_refused():
    from collections import OrderedDict
    with pytest.raises(KeyError, match="must be non-empty and contain no '.'"):
        nn.Sequential(OrderedDict([("a.b", nn.Linear(2, 2))]))


@pytest.mark.parametrize("value", [np.zeros((3, 2)), 3.0, [[0.0, 0.0]] * 3])
def test_assigning_a_non_parameter_to_a_parameters_name_is_refused(value):
    """(As PyTorch: else the weight would quietly leave the model, its state_dict and its optimizer.)"""
    layer = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign a .* to the parameter 'weight' of Linear"):
        layer.weight = value
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.weight = None  # (taking it out is allowed)
    assert [n for n, _ in layer.named_parameters()] == ["bias"]


def test_a_child_held_under_two_names_is_one_child(torch):
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    tshared = torch.nn.Linear(2, 2)
    tseq = torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    assert [n for n, _ in seq.named_children()] == [n for n, _ in tseq.named_children()] == ["0", "1"]
    assert len(list(seq.children())) == 2


def test_module_habits_from_pytorch():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(inplace=True), nn.Linear(3, 1))
    assert "inplace=True" in repr(model)
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]  # children first, as PyTorch
    assert list(model.parameters(recurse=False)) == []
    assert [p.shape for p in model[0].parameters(recurse=False)] == [(3, 2), (3,)]
    x = ts.Tensor(np.array([[1.0, -2.0]], np.float32))
    before = x.numpy().copy()
    model(x).sum().backward()
    np.testing.assert_array_equal(x.numpy(), before)  # (inplace=True changes no input here)
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("state, strict, match", [
    ([("0.weight", np.zeros((3, 2)))], True, "expected a mapping of names to arrays"),
    ({}, None, "strict must be True or False"),
    ({0: np.zeros(1)}, True, "unexpected keys: 0"),
])
def test_load_state_dict_says_what_is_wrong_with_its_arguments(state, strict, match):
    model = nn.Sequential(nn.Linear(2, 3))
    before = model.state_dict()
    with pytest.raises((TypeError, KeyError), match=match):
        model.load_state_dict(state, strict=strict)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("size", [True, "a", 2.0])
def test_linear_sizes_must_be_ints(size):
    with pytest.raises(TypeError, match="in_features must be an int"):
        nn.Linear(size, 3)


def test_a_parameter_or_layer_set_to_none_and_back_keeps_its_place(torch):
    layer = nn.Linear(2, 3)
    layer.weight = None
    assert list(layer.state_dict()) == ["bias"] and layer.weight is None
    layer.weight = nn.Parameter(np.zeros((3, 2), np.float32))
    tl = torch.nn.Linear(2, 3)
    tl.weight = None
    tl.weight = torch.nn.Parameter(torch.zeros(3, 2))
    assert list(layer.state_dict()) == list(tl.state_dict()) == ["weight", "bias"]

    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    first = net[0]
    setattr(net, "0", None)
    assert [n for n, _ in net.named_children()] == ["1"] and "(0): None" in repr(net)
    net.eval()  # (a None child is skipped, not called)
    setattr(net, "0", first)
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


# -- dropout -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_drops_a_fraction_p_and_scales_the_rest_by_1_over_1_minus_p(dtype):
    n, p = 200_000, 0.3
    x = ts.Tensor(np.ones(n, dtype), requires_grad=True)
    y = F.dropout(x, p, generator=5)
    kept = y.numpy() != 0
    # binomial: the dropped fraction is p within 6 standard deviations (sqrt(p (1-p) / n) = 0.001)
    assert abs((1 - kept.mean()) - p) < 6 * np.sqrt(p * (1 - p) / n)
    assert y.dtype == dtype and np.all(y.numpy()[kept] == dtype(1) / dtype(0.7))
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * y.numpy())  # g * m / (1 - p), blocked where dropped


def test_dropout_masks_differ_from_call_to_call_and_repeat_under_manual_seed():
    x = ts.ones(1000)
    a, b = F.dropout(x, 0.5).numpy(), F.dropout(x, 0.5).numpy()
    assert not np.array_equal(a, b)
    ts.manual_seed(11)
    c = F.dropout(x, 0.5).numpy()
    ts.manual_seed(11)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), c)


def test_dropout_is_the_identity_in_eval_mode_or_at_p_0_and_zero_at_p_1():
    x = ts.Tensor(np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x and F.dropout(x, 0.0) is x
    with np.errstate(all="raise"):  # (no 0 * inf at p = 1)
        y = F.dropout(x, 1.0)
    y.sum().backward()
    assert np.all(y.numpy() == 0) and np.all(x.grad.numpy() == 0)
    model = nn.Sequential(nn.Linear(3, 3, generator=0), nn.Dropout(0.5))
    assert repr(model[1]) == "Dropout(p=0.5, inplace=False)"
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model[0](x).numpy())
    model.train()
    out = ts.ones(64, 3) @ ts.eye(3)
    assert np.any(model[1](out).numpy() == 0)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_dropout_refuses_a_p_outside_0_1(p):
    with pytest.raises(ValueError, match=r"dropout: p is the probability of dropping an element.*in \[0, 1\]"):
        F.dropout(ts.ones(3), p)
    with pytest.raises(ValueError, match="dropout: p"):
        nn.Dropout(p)


def test_dropout_of_an_integer_tensor_says_to_convert_it_when_it_would_drop():
    ints = ts.tensor([1, 2, 3])
    with pytest.raises(TypeError, match=r"dropout: expects a float tensor, got int64; convert it with \.float\(\)"):
        F.dropout(ints, 0.5)
    assert F.dropout(ints, 0.5, training=False) is ints  # (nothing to do: as PyTorch)
    empty = ts.zeros(0, 3)
    assert F.dropout(empty, 0.5) is empty


def test_dropout_takes_pytorchs_arguments_and_refuses_a_bool_seed():
    x = ts.ones(2000)
    a, b = F.dropout(x, 0.5, True, False).numpy(), F.dropout(x, 0.5, True, False).numpy()  # (input, p, training, inplace)
    assert not np.array_equal(a, b)
    assert nn.Dropout(0.5, inplace=True)(x).shape == (2000,)
    with pytest.raises(TypeError, match="generator is a seed"):
        F.dropout(x, 0.5, generator=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_scales_by_the_same_number_as_pytorch(dtype, torch):
    x = np.ones(2000, dtype)
    for p in np.arange(1, 100) / 100:
        ours = set(np.unique(F.dropout(ts.Tensor(x), p).numpy())) - {0}
        theirs = set(np.unique(torch.nn.functional.dropout(torch.from_numpy(x), p).numpy())) - {0}
        assert ours == theirs, p


def test_an_mlp_with_dropout_trains_and_matches_pytorch_with_the_same_mask(torch):
    # the same masks, given to PyTorch by hand: the same loss and gradients
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 6)), rng.integers(0, 3, 16)
    lin1, lin2 = nn.Linear(6, 8, generator=1).double(), nn.Linear(8, 3, generator=2).double()
    h = F.dropout(lin1(ts.Tensor(x)).relu(), 0.25, generator=9)
    loss = ts.cross_entropy(lin2(h), y)
    loss.backward()
    mask = (np.random.default_rng(9).random((16, 8)) >= 0.25) / 0.75
    t1, t2 = torch.nn.Linear(6, 8).double(), torch.nn.Linear(8, 3).double()
    with torch.no_grad():
        for t, m in ((t1, lin1), (t2, lin2)):
            t.weight.copy_(torch.from_numpy(m.weight.numpy()))
            t.bias.copy_(torch.from_numpy(m.bias.numpy()))
    tloss = torch.nn.functional.cross_entropy(t2(torch.relu(t1(torch.from_numpy(x))) * torch.from_numpy(mask)),
                                              torch.from_numpy(y))
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(lin1.weight.grad.numpy(), t1.weight.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_mlp_with_dropout_drops_after_each_hidden_activation_and_not_in_eval():
    plain = nn.MLP([6, 5, 4, 3], generator=0)
    drop = nn.MLP([6, 5, 4, 3], dropout=0.5, generator=0)  # (the same weights: dropout draws nothing at build)
    assert [type(m).__name__ for m in drop] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert list(drop.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    x = ts.randn(64, 6, generator=1)
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), plain(x).numpy())
    drop.train()
    assert not np.array_equal(drop(x).numpy(), plain(x).numpy())
    assert [type(m).__name__ for m in nn.MLP([6, 5, 3], dropout=0.0)] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="dropout: p"):
        nn.MLP([6, 5, 3], dropout=1.5)


# -- nn.init -----------------------------------------------------------------------------------------
INIT_SHAPES = [(3, 4), (64, 32), (5, 3, 2, 2)]


def test_init_gains_and_fans_are_pytorchs(torch):
    for name in ("linear", "sigmoid", "tanh", "relu", "selu", "conv2d", "leaky_relu"):
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-15)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    for shape in INIT_SHAPES:
        got = nn.init._calculate_fan_in_and_fan_out(ts.zeros(*shape))
        assert got == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize("shape", INIT_SHAPES)
def test_init_draws_have_pytorchs_bounds_and_spread(shape, torch):
    n = 200_000 // math.prod(shape) + 1  # (tensors drawn until ~200k values: their spread is known well)
    for name, kw in [("uniform_", dict(a=-0.5, b=2.0)), ("normal_", dict(mean=0.3, std=0.7)),
                     ("xavier_uniform_", dict(gain=1.5)), ("xavier_normal_", {}),
                     ("kaiming_uniform_", dict(a=math.sqrt(5))), ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"))]:
        ours = np.concatenate([getattr(nn.init, name)(ts.zeros(*shape), **kw, generator=i).numpy().ravel() for i in range(n)])
        theirs = np.concatenate([getattr(torch.nn.init, name)(torch.zeros(shape), **kw).numpy().ravel() for _ in range(n)])
        assert abs(ours.mean() - theirs.mean()) < 0.03 * theirs.std() + 1e-3, name
        assert ours.std() == pytest.approx(theirs.std(), rel=0.03), name
        if "uniform" in name:  # the same bounds: both reach to within 0.5% of them
            assert ours.min() >= theirs.min() - 0.005 * np.ptp(theirs) and ours.max() <= theirs.max() + 0.005 * np.ptp(theirs)
            assert ours.min() <= theirs.min() + 0.005 * np.ptp(theirs) and ours.max() >= theirs.max() - 0.005 * np.ptp(theirs)


def test_init_fills_in_place_returns_the_tensor_and_repeats_with_its_generator():
    fc = nn.Linear(8, 4, generator=0)
    w = fc.weight.data
    assert nn.init.xavier_uniform_(fc.weight, generator=5) is fc.weight and fc.weight.data is w
    first = w.copy()
    nn.init.xavier_uniform_(fc.weight, generator=5)
    np.testing.assert_array_equal(w, first)
    assert nn.init.zeros_(fc.bias).numpy().sum() == 0 and nn.init.ones_(fc.bias).numpy().sum() == 4
    assert np.all(nn.init.constant_(fc.bias, 0.25).numpy() == np.float32(0.25)) and fc.bias.dtype == np.float32
    from tinygrad_sm.nn import init  # (PyTorch's spelling)
    assert init is nn.init


def test_init_leaves_a_tensor_without_elements_as_pytorch_does():
    for shape in ((3, 0), (0, 3), (4, 0, 3)):
        for name in ("kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"):
            t = ts.zeros(*shape)
            assert getattr(nn.init, name)(t) is t and t.shape == shape


def test_init_between_forward_and_backward_is_caught_by_backward():
    fc = nn.Linear(3, 2, generator=0)
    loss = fc(ts.ones(4, 3, requires_grad=True)).sum()  # (dx needs the weight: the gate keeps it)
    nn.init.kaiming_normal_(fc.weight)
    with pytest.raises(RuntimeError, match=r"nn.init.kaiming_normal_ changed it in place"):
        loss.backward()


@pytest.mark.parametrize("call, error, match", [
    (lambda: nn.init.kaiming_normal_(ts.zeros(5)), ValueError, r"at least 2 dimensions, got shape \(5,\)"),
    (lambda: nn.init.kaiming_uniform_(ts.zeros(2, 3), mode="fan"), ValueError, "mode must be 'fan_in' or 'fan_out'"),
    (lambda: nn.init.kaiming_normal_(ts.zeros(2, 3), nonlinearity="gelu"), ValueError, "unknown nonlinearity 'gelu'"),
    (lambda: nn.init.normal_(ts.zeros(2), std=-1.0), ValueError, "std must be >= 0"),
    (lambda: nn.init.uniform_(ts.zeros(2), a=1.0, b=0.0), ValueError, "a must be <= b"),
    (lambda: nn.init.constant_(ts.zeros(2), float("nan")), ValueError, "val must be a finite number"),
    (lambda: nn.init.zeros_(ts.tensor([1, 2])), TypeError, "expects a float tensor, got int64"),
    (lambda: nn.init.zeros_(np.zeros(3)), TypeError, "fills a Tensor in place, got ndarray"),
    (lambda: nn.init.ones_(ts.from_numpy(np.broadcast_to(np.zeros(1), (3,)))), ValueError, "read-only"),
])
def test_init_refuses_what_it_cannot_fill(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- nn.utils, F.one_hot, optim.lr_scheduler: PyTorch's spellings --------------------------------------
@pytest.mark.parametrize("max_norm, norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0), (0.2, float("inf"))])
def test_clip_grad_norm_scales_as_pytorchs(max_norm, norm_type, torch):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 3)]
    values = [rng.normal(size=s).astype(np.float32) for s in shapes]
    ours = [ts.tensor(v, requires_grad=True) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    for p, t, v in zip(ours, theirs, values):
        p.grad, t.grad = ts.tensor(v * 3), torch.tensor(v * 3)
    frozen = ts.tensor([1.0], requires_grad=True)  # (no .grad: left alone)
    total = nn.utils.clip_grad_norm_([*ours, frozen], max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.dtype == np.float32 and total.item() == pytest.approx(want.item(), rel=1e-6)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    assert frozen.grad is None


def test_clip_grad_value_and_the_errors_of_clipping(torch):
    v = np.array([-3.0, 0.5, 2.0])
    p, t = ts.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    p.grad, t.grad = ts.tensor(v, dtype="float64"), torch.tensor(v)
    nn.utils.clip_grad_value_(p, 1.0)
    torch.nn.utils.clip_grad_value_(t, 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())
    p.grad = ts.tensor([np.inf, 1.0, 0.0], dtype="float64")
    with pytest.raises(RuntimeError, match="total norm of the gradients is inf"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be a number >= 0"):
        nn.utils.clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match="norm_type must be a number > 0 or 'inf'"):
        nn.utils.clip_grad_norm_([p], 1.0, norm_type=0)
    q, tq = ts.tensor([3.0, 4.0], requires_grad=True), torch.tensor([3.0, 4.0], requires_grad=True)
    q.grad, tq.grad = ts.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(q, 1.0, "inf").item() == torch.nn.utils.clip_grad_norm_(tq, 1.0, "inf").item()
    nn.utils.clip_grad_norm_(q, 0.0)  # (max_norm 0: every gradient zeroed, as in PyTorch)
    assert np.all(q.grad.numpy() == 0)
    mixed = [ts.tensor([1.0], requires_grad=True), ts.tensor([1.0], dtype="float64", requires_grad=True)]
    mixed[0].grad, mixed[1].grad = ts.tensor([1.0]), ts.tensor([1.0], dtype="float64")
    assert nn.utils.clip_grad_norm_(mixed, 5.0).dtype == np.float64  # (promoted, as PyTorch)
    assert nn.utils.clip_grad_norm_([], 1.0).dtype == np.float32
    with pytest.raises(TypeError, match=r"expects tensors \(model.parameters\(\)\), got a ndarray"):
        nn.utils.clip_grad_norm_([np.ones(2)], 1.0)
    from tinygrad_sm.nn.utils import clip_grad_norm_  # (PyTorch's import path)
    assert clip_grad_norm_ is nn.utils.clip_grad_norm_


def test_one_hot_as_pytorchs_and_its_errors(torch):
    y = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(ts.tensor(y)).numpy(), torch.nn.functional.one_hot(torch.tensor(y)).numpy())
    np.testing.assert_array_equal(F.one_hot(ts.tensor(y), 6).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(y), 6).numpy())
    with pytest.raises(ValueError, match=r"label 3 is outside \[0, 3\) \(1 such\)"):
        F.one_hot(ts.tensor(y), 3)
    with pytest.raises(TypeError, match="expects integer class labels, got float32"):
        F.one_hot(ts.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="no labels to count the classes from; give num_classes"):
        F.one_hot(ts.tensor(np.zeros(0, np.int64)))
    assert F.one_hot(ts.tensor(np.zeros(0, np.int64)), 3).shape == (0, 3)


def test_step_lr_is_found_under_optim_lr_scheduler():
    from tinygrad_sm.optim.lr_scheduler import StepLR
    assert StepLR is ts.optim.lr_scheduler.StepLR is ts.optim.StepLR


# -- buffers -------------------------------------------------------------------------------------------
class Scaled(nn.Module):
    """A layer with state that is not a parameter: a running mean (saved) and a mask (not saved)."""

    def __init__(self, lib, n):
        super().__init__()
        self.fc = lib.nn.Linear(n, n)
        self.register_buffer("running_mean", lib.zeros(n))
        self.register_buffer("count", lib.tensor(0))
        self.register_buffer("mask", lib.ones(n), persistent=False)


def test_buffers_are_state_dict_entries_not_parameters_as_in_pytorch(torch):
    class TScaled(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc = torch.nn.Linear(n, n)
            self.register_buffer("running_mean", torch.zeros(n))
            self.register_buffer("count", torch.tensor(0))
            self.register_buffer("mask", torch.ones(n), persistent=False)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("step", ts.tensor(1))
            self.inner = Scaled(ts, 3)

    class TOuter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("step", torch.tensor(1))
            self.inner = TScaled(3)

    ours, theirs = Outer(), TOuter()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours.inner.running_mean.shape == (3,) and ours.inner.count.dtype == np.int64
    state = ours.state_dict()
    state["inner.running_mean"] = np.array([1.0, 2.0, 3.0])
    state["inner.count"] = np.array(5)
    fresh = Outer()
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.inner.running_mean.numpy(), [1.0, 2.0, 3.0])
    assert fresh.inner.count.item() == 5
    fresh.double()
    assert fresh.inner.running_mean.dtype == np.float64 and fresh.inner.count.dtype == np.int64
    fresh.inner.running_mean = ts.ones(3)  # (a buffer takes another tensor)
    assert "inner.running_mean" in dict(fresh.named_buffers())
    del fresh.inner.mask
    assert "mask" not in dict(fresh.inner.named_buffers())


def test_a_buffer_may_hold_inf_and_a_module_pickled_before_buffers_loads():
    import pickle
    m = Scaled(ts, 2)
    m.register_buffer("neg_mask", ts.tensor(np.array([0.0, -np.inf], np.float32)))
    m.load_state_dict(m.state_dict())  # (a -inf mask is state, not a diverged weight)
    with pytest.raises(ValueError, match="fc.weight contains NaN or inf"):
        m.load_state_dict({**m.state_dict(), "fc.weight": np.full((2, 2), np.nan)})
    old = nn.MLP([3, 2])
    for table in ("_buffers", "_non_persistent"):  # (as a module pickled before buffers existed)
        for mod in old.modules():
            del mod.__dict__[table]
    back = pickle.loads(pickle.dumps(old))
    assert list(back.state_dict()) == ["0.weight", "0.bias"] and list(back.named_buffers()) == []
    back.register_buffer("step", ts.tensor(0))
    assert "step" in back.state_dict()


def test_register_buffer_refuses_what_pytorch_refuses():
    m = Scaled(ts, 2)
    with pytest.raises(KeyError, match="already has an attribute 'fc'"):
        m.register_buffer("fc", ts.zeros(2))
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", ts.zeros(2))
    with pytest.raises(TypeError, match="must be a Tensor or None, got a ndarray"):
        m.register_buffer("stats", np.zeros(2))
    with pytest.raises(TypeError, match="cannot assign a ndarray to the buffer 'running_mean'"):
        m.running_mean = np.zeros(2)
    m.register_buffer("later", None)  # (a place kept for a tensor to come, as in PyTorch)
    assert "later" not in m.state_dict()
    with pytest.raises(KeyError, match="missing keys: 'running_mean'"):
        Scaled(ts, 2).load_state_dict({k: v for k, v in m.state_dict().items() if k != "running_mean"})


def test_module_and_parameter_containers_register_what_they_hold_as_pytorchs(torch):
    d = nn.ModuleDict({"enc": nn.Linear(3, 2), "dec": nn.Linear(2, 3)})
    d["head"] = nn.Linear(3, 1)
    assert list(d) == ["enc", "dec", "head"] and "dec" in d and len(d) == 3
    assert list(d.state_dict()) == list(torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 2), "dec": torch.nn.Linear(2, 3),
                                                             "head": torch.nn.Linear(3, 1)}).state_dict())
    assert len(list(d.parameters())) == 6
    del d["head"]
    assert [k for k, _ in d.items()] == ["enc", "dec"] and isinstance(d.pop("dec"), nn.Linear) and len(d) == 1
    shared, t = nn.Parameter(np.ones(2)), ts.tensor([1.0, 2.0])
    plist = nn.ParameterList([shared, t])
    assert plist[0] is shared and plist[1].requires_grad and list(plist.state_dict()) == ["0", "1"]
    plist[1].data[0] = 5.0
    assert t.numpy()[0] == 5.0  # (the tensor's array, shared, as PyTorch's Parameter(t) shares storage)
    assert isinstance(plist[0:1], nn.ParameterList) and len(plist[0:1]) == 1
    assert "(1): Parameter containing: float32 of shape (2,)" in repr(plist)
    pdict = nn.ParameterDict({"scale": ts.ones(3)})
    pdict.update([("shift", nn.Parameter(np.zeros(3)))])
    assert list(pdict.state_dict()) == ["scale", "shift"] and pdict["scale"].requires_grad
    assert pdict.get("nothing") is None and pdict.pop("shift").shape == (3,) and list(pdict) == ["scale"]
    pdict.clear()
    d2 = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d2.clear()
    assert len(pdict) == 0 and len(d2) == 0 and list(d2.parameters()) == []

    class Model(nn.Module):  # (containers inside a model: their names nest in its state_dict)
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleDict({"a": nn.Linear(2, 2)})
            self.gains = nn.ParameterList([nn.Parameter(np.ones(2))])

        def forward(self, x):
            return self.blocks["a"](x) * self.gains[0]

    m = Model()
    assert list(m.state_dict()) == ["blocks.a.weight", "blocks.a.bias", "gains.0"]
    out = m(ts.ones(4, 2)).sum()
    out.backward()
    assert m.gains[0].grad is not None and m.blocks["a"].weight.grad is not None


@pytest.mark.parametrize("call, error, match", [
    (lambda: nn.ModuleDict({"a.b": nn.Linear(1, 1)}), KeyError, "keys are non-empty strings without '.'"),
    (lambda: nn.ModuleDict({"keys": nn.Linear(1, 1)}), KeyError, "'keys' is already an attribute of the ModuleDict"),
    (lambda: nn.ModuleDict({"training": nn.Linear(1, 1)}), KeyError, "'training' is already an attribute"),
    (lambda: nn.ModuleDict({"_modules": nn.Linear(1, 1)}), KeyError, "'_modules' is already an attribute"),
    (lambda: nn.ParameterDict({"_parameters": ts.zeros(1)}), KeyError, "'_parameters' is already an attribute"),
    (lambda: nn.ParameterList([ts.tensor([1, 2])]), TypeError, "float"),
    (lambda: nn.ModuleDict({"a": ts.zeros(1)}), TypeError, "ModuleDict takes Modules, got Tensor for 'a'"),
    (lambda: nn.ParameterList([np.ones(2)]), TypeError, "ParameterList holds Parameters .*got ndarray"),
    (lambda: nn.ParameterDict({3: ts.zeros(1)}), KeyError, "ParameterDict: keys are non-empty strings"),
])
def test_containers_refuse_what_they_cannot_hold(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (8, 2, 3, 3)])
def test_orthogonal_init_gives_orthonormal_rows_or_columns_times_the_gain(shape):
    w = nn.init.orthogonal_(ts.zeros(*shape, dtype="float64"), gain=2.0, generator=0)
    m = w.numpy().reshape(shape[0], -1) / 2.0
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    again = nn.init.orthogonal_(ts.zeros(*shape, dtype="float64"), gain=2.0, generator=0)
    np.testing.assert_array_equal(again.numpy(), w.numpy())
    with pytest.raises(ValueError, match="2 or more dimensions"):
        nn.init.orthogonal_(ts.zeros(3))


def test_trunc_normal_init_stays_within_its_bounds_with_the_normals_spread(torch):
    w = nn.init.trunc_normal_(ts.zeros(200, 200, dtype="float64"), std=1.0, a=-1.0, b=2.0, generator=0)
    v = w.numpy()
    assert v.min() >= -1.0 and v.max() <= 2.0
    tv = torch.nn.init.trunc_normal_(torch.empty(200, 200, dtype=torch.float64), std=1.0, a=-1.0, b=2.0).numpy()
    assert abs(v.mean() - tv.mean()) < 0.02 and abs(v.std() - tv.std()) < 0.02  # (the same truncated law)
    with pytest.raises(ValueError, match="needs std > 0 and a < b"):
        nn.init.trunc_normal_(ts.zeros(3), a=1.0, b=0.0)
