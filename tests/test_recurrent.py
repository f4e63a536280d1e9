"""nn.RNN, nn.LSTM and nn.GRU (tinygrad_sm/recurrent.py) against PyTorch's: the same weights give
the same outputs, final states and gradients (backpropagation through time is the ordinary
backward pass over the unrolled steps, so this checks the step formulas and the layouts)."""
import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import nn

R = np.random.default_rng(5)


def _pair(torch, kind, dtype="float64", **kw):
    """Our layer and PyTorch's with the same weights (ours drawn, copied into PyTorch's by name)."""
    ours = getattr(nn, kind)(3, 5, dtype=dtype, generator=1, **kw)
    theirs = getattr(torch.nn, kind)(3, 5, dtype=getattr(torch, dtype), **kw)
    mine = dict(ours.named_parameters())
    assert list(mine) == [n for n, _ in theirs.named_parameters()]  # (PyTorch's names, in its order)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(mine[name].numpy()))
    return ours, theirs


def _states(s):
    return list(s) if isinstance(s, tuple) else [s]


CASES = [("RNN", {}), ("RNN", dict(nonlinearity="relu", num_layers=2)), ("RNN", dict(bias=False)),
         ("LSTM", {}), ("LSTM", dict(num_layers=2, batch_first=True)), ("LSTM", dict(bias=False, num_layers=3)),
         ("GRU", {}), ("GRU", dict(num_layers=2, batch_first=True)), ("GRU", dict(bias=False)),
         ("RNN", dict(bidirectional=True, num_layers=2)), ("LSTM", dict(bidirectional=True)),
         ("LSTM", dict(bidirectional=True, num_layers=2, batch_first=True)),
         ("GRU", dict(bidirectional=True, num_layers=3, bias=False))]


@pytest.mark.parametrize("kind, kw", CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
@pytest.mark.parametrize("given_state", [False, True])
def test_outputs_states_and_every_gradient_are_pytorchs(kind, kw, given_state, torch):
    ours, theirs = _pair(torch, kind, **kw)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)  # (states: one per direction)
    x = R.standard_normal((6, 4, 3) if kw.get("batch_first") else (4, 6, 3))
    ox, tx = ts.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    args, targs = [], []
    if given_state:
        s = [R.standard_normal((layers, 6, 5)) for _ in range(2 if kind == "LSTM" else 1)]
        os_, ts_ = [ts.tensor(a, requires_grad=True) for a in s], [torch.tensor(a, requires_grad=True) for a in s]
        args, targs = ([tuple(os_)], [tuple(ts_)]) if kind == "LSTM" else ([os_[0]], [ts_[0]])
    out, state = ours(ox, *args)
    tout, tstate = theirs(tx, *targs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(_states(state), _states(tstate)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)
    # a loss through the outputs and the final states both
    g = R.standard_normal(out.shape)
    gs = [R.standard_normal(a.shape) for a in _states(state)]
    loss = (out * ts.tensor(g)).sum() + sum(((a * ts.tensor(b)).sum() for a, b in zip(_states(state), gs)), ts.tensor(0.0))
    tloss = (tout * torch.tensor(g)).sum() + sum((a * torch.tensor(b)).sum() for a, b in zip(_states(tstate), gs))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
    if given_state:
        for a, b in zip(os_, ts_):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_one_sequence_without_a_batch_and_float32_are_pytorchs(kind, bidirectional, torch):
    ours, theirs = _pair(torch, kind, dtype="float32", num_layers=2, bidirectional=bidirectional)
    d = 2 if bidirectional else 1
    x = R.standard_normal((7, 3)).astype(np.float32)
    out, state = ours(ts.tensor(x))
    tout, tstate = theirs(torch.from_numpy(x))
    assert out.shape == tuple(tout.shape) == (7, 5 * d) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(_states(state), _states(tstate)):
        assert a.shape == tuple(b.shape) == (2 * d, 5)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_dropout_acts_between_layers_while_training_only():
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype="float64", generator=0)
    x = ts.tensor(R.standard_normal((5, 2, 3)))
    ts.manual_seed(0)
    a = lstm(x)[0].numpy()
    ts.manual_seed(1)
    b = lstm(x)[0].numpy()
    assert not np.allclose(a, b)  # (other masks)
    lstm.eval()
    np.testing.assert_array_equal(lstm(x)[0].numpy(), lstm(x)[0].numpy())
    assert repr(lstm) == "LSTM(3, 4, num_layers=2, dropout=0.5)"


def test_an_lstm_learns_which_of_two_markers_came_first():
    """A task that needs memory: a sequence of noise with one +1 and one -1 marker somewhere; the
    class is which came first. Only a state carried over the steps can know."""
    rng = np.random.default_rng(0)
    n, steps = 256, 8
    x = rng.standard_normal((n, steps, 1)) * 0.1
    first = rng.integers(0, 2, n)
    for i in range(n):
        a, b = sorted(rng.choice(steps, 2, replace=False))
        x[i, a, 0], x[i, b, 0] = (1.0, -1.0) if first[i] == 0 else (-1.0, 1.0)
    ts.manual_seed(0)
    lstm, head = nn.LSTM(1, 8, batch_first=True, dtype="float64", generator=0), nn.Linear(8, 2, dtype="float64")
    opt = ts.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        out, _ = lstm(ts.tensor(x))
        loss = ts.cross_entropy(head(out[:, -1]), first)
        loss.backward()
        opt.step()
    accuracy = (head(lstm(ts.tensor(x))[0][:, -1]).numpy().argmax(axis=1) == first).mean()
    assert accuracy > 0.95


@pytest.mark.parametrize("call, match", [
    (lambda: nn.LSTM(3, 4)(ts.zeros(5, 2, 4)), r"LSTM\(3, 4\): input must be \(L, N, 3\).*got \(5, 2, 4\)"),
    (lambda: nn.GRU(3, 4)(ts.zeros(5, 2, 3, dtype="float64")), "the input is float64 but the layer's weights are float32"),
    (lambda: nn.RNN(3, 4)(ts.zeros(5, 2, 3), ts.zeros(1, 3, 4)), r"hx must be a Tensor of shape \(1, 2, 4\)"),
    (lambda: nn.LSTM(3, 4)(ts.zeros(5, 2, 3), ts.zeros(1, 2, 4)), r"the state is a pair \(h_0, c_0\)"),
    (lambda: nn.LSTM(3, 4)(ts.zeros(5, 2, 3), (ts.zeros(1, 2, 4, dtype="float64"), ts.zeros(1, 2, 4))),
     "h_0 is float64 but the layer's weights are float32"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity must be 'tanh' or 'relu'"),
    (lambda: nn.GRU(3, 4, bidirectional=True)(ts.zeros(5, 2, 3), ts.zeros(1, 2, 4)),
     r"hx must be a Tensor of shape \(2, 2, 4\) \(num_layers \* 2, batch, hidden_size\)"),
    (lambda: nn.LSTM(3, 0), "hidden_size must be an int >= 1"),
    (lambda: nn.LSTM(3, 4, dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (lambda: nn.RNN(3, 4)(ts.zeros(0, 2, 3)), "no time steps"),
])
def test_bad_input_says_what_is_wrong(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_a_bidirectional_layer_reads_the_sequence_both_ways():
    """The reverse half of the output at step t has seen steps t..L-1 only: changing the last step
    changes it everywhere, changing the first step changes it at step 0 alone (and the forward
    half the other way round). Its final state is its output at step 0."""
    gru = nn.GRU(2, 3, bidirectional=True, dtype="float64", generator=0)
    x = R.standard_normal((6, 1, 2))
    out, h = gru(ts.tensor(x))
    assert out.shape == (6, 1, 6) and h.shape == (2, 1, 3)
    np.testing.assert_array_equal(h.numpy()[1], out.numpy()[0, :, 3:])  # (reverse: done at step 0)
    np.testing.assert_array_equal(h.numpy()[0], out.numpy()[-1, :, :3])  # (forward: done at the last)
    y = x.copy()
    y[0] += 1.0
    changed = ~np.isclose(gru(ts.tensor(y))[0].numpy(), out.numpy()).all(axis=(1,))
    assert changed[:, :3].all() and changed[0, 3:].all() and not changed[1:, 3:].any()
    assert repr(gru) == "GRU(2, 3, bidirectional=True)"
    assert [n for n, _ in gru.named_parameters()][4:6] == ["weight_ih_l0_reverse", "weight_hh_l0_reverse"]
