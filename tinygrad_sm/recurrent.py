"""Recurrent layers, as PyTorch's: nn.RNN, nn.LSTM and nn.GRU (nn re-exports them).

Each is a loop over time steps written with the library's own ops (linear, sigmoid, tanh, *, +),
so backpropagation through time is the ordinary backward pass over the unrolled graph: nothing
here has a gradient rule of its own. One step of each (x the step's input, h the hidden state):

    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                     (or relu)
    LSTM  i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)            (4 blocks of hidden_size)
          c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
    GRU   r, z = sigmoid(split(W_ir x + b_ir + W_hr h + b_hr));  n = tanh(W_in x + b_in + r (W_hn h + b_hn))
          h' = (1 - z) n + z h

    rnn = nn.LSTM(28, 64, batch_first=True)      # an MNIST image as 28 rows of 28 pixels
    out, (h, c) = rnn(images.reshape(-1, 28, 28))
    logits = head(out[:, -1])                    # the last step's output

bidirectional=True runs a second set of weights (PyTorch's names with _reverse) over the
sequence from its end, and puts its output beside the first's at each step: the output's last
dimension is 2 * hidden_size, and a layer above takes that as its input.
"""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from . import creation
from . import dtypes as _dt
from . import functional
from ._checks import is_int, is_real
from .nn import Module, Parameter
from .tensor import Tensor

__all__ = ["RNN", "LSTM", "GRU"]

State = Union[Tensor, tuple[Tensor, Tensor]]
_SUFFIX = ("", "_reverse")  # (a weight's name ends so in direction 0, 1: PyTorch's names)


class _Recurrent(Module):
    """What RNN, LSTM and GRU share: the weights of each layer and direction (PyTorch's names,
    weight_ih_l0, ..., weight_ih_l0_reverse, ..., in its order, and its init, uniform in
    +-1/sqrt(hidden_size)), the input layouts, and the loop over layers and directions. States
    are kept one per (layer, direction), in PyTorch's order: layer k's are 2k and 2k + 1."""

    blocks = 1  # (how many hidden_size blocks each weight stacks: LSTM 4, GRU 3)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: _dt.DTypeLike = "float32", generator: creation.Seed = None) -> None:
        super().__init__()
        name = type(self).__name__
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not is_int(v) or v < 1:
                raise ValueError(f"{name}: {what} must be an int >= 1, got {v!r}")
        if not is_real(dropout) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional = bool(bidirectional)
        self.directions = 2 if self.bidirectional else 1
        rng, dt, k = creation._gen(generator), _dt.to_dtype(dtype), 1.0 / np.sqrt(hidden_size)
        g = self.blocks * hidden_size
        for layer in range(num_layers):
            below = input_size if layer == 0 else hidden_size * self.directions
            for d in range(self.directions):
                shapes = [("weight_ih", (g, below)), ("weight_hh", (g, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (g,)), ("bias_hh", (g,))]
                for what, shape in shapes:
                    setattr(self, f"{what}_l{layer}{_SUFFIX[d]}", Parameter(rng.uniform(-k, k, shape).astype(dt)))

    def _weights(self, layer: int, d: int) -> tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
        w = [getattr(self, f"{what}_l{layer}{_SUFFIX[d]}", None)
             for what in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        return w[0], w[1], w[2], w[3]

    def _step(self, x: Tensor, state: Any, layer: int, d: int) -> tuple[Tensor, Any]:
        """One time step of one layer in direction d (1: reverse): (its output h, the state to carry on)."""
        raise NotImplementedError

    def _start(self, batch: int, dtype: np.dtype) -> list[Any]:
        """Each (layer, direction)'s zero state."""
        raise NotImplementedError

    @property
    def _stack(self) -> int:
        """How many states the layer keeps: one per layer and direction."""
        return self.num_layers * self.directions

    def _states(self, hx: Optional[State], batch: int, dtype: np.dtype, unbatched: bool) -> list[Any]:
        return self._start(batch, dtype) if hx is None else self._given(hx, batch, unbatched)

    def _given(self, hx: State, batch: int, unbatched: bool) -> list[Any]:
        """hx (num_layers * directions, N, hidden) (or without N, for one sequence) as one per
        layer and direction."""
        h = self._check_state("hx", hx, batch, unbatched)
        return [h[i] for i in range(self._stack)]

    def _check_state(self, what: str, t: Any, batch: int, unbatched: bool) -> Tensor:
        n = self._stack
        want = (n, self.hidden_size) if unbatched else (n, batch, self.hidden_size)
        if not isinstance(t, Tensor) or t.shape != want:
            got = t.shape if isinstance(t, Tensor) else type(t).__name__
            layers = "num_layers * 2" if self.bidirectional else "num_layers"
            raise ValueError(f"{type(self).__name__}: {what} must be a Tensor of shape {want} "
                             f"({layers}{'' if unbatched else ', batch'}, hidden_size), got {got}")
        if t.dtype != self.weight_ih_l0.dtype:
            raise TypeError(f"{type(self).__name__}: {what} is {t.dtype} but the layer's weights are "
                            f"{self.weight_ih_l0.dtype}; convert it with .to('{self.weight_ih_l0.dtype}')")
        return t.reshape(n, 1, self.hidden_size) if unbatched else t

    def forward(self, x: Tensor, hx: Optional[State] = None) -> tuple[Tensor, State]:
        """x: (L, N, input_size), (N, L, input_size) with batch_first, or (L, input_size) for one
        sequence. Returns (output: the last layer's h at every step, in x's layout, both
        directions' side by side when bidirectional; the final state: h_n (num_layers *
        directions, N, hidden_size), or (h_n, c_n) for the LSTM; the reverse direction's final
        state is the one after the first step)."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}({self.input_size}, {self.hidden_size}): input must be (L, N, {self.input_size}), "
                             f"(N, L, {self.input_size}) with batch_first, or (L, {self.input_size}); got {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = x.permute(1, 0, 2)  # (L, N, input_size)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{name}: the input has no time steps (shape {x.shape})")
        dtype = self.weight_ih_l0.dtype
        if x.dtype != dtype:
            raise TypeError(f"{name}: the input is {x.dtype} but the layer's weights are {dtype}; convert the "
                            f"input with .to('{dtype}') or the layer with .to('{x.dtype}')")
        states = self._states(hx, batch, dtype, unbatched)
        inputs = [x[t] for t in range(steps)]
        finals = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                inputs = [functional.dropout(h, self.dropout) for h in inputs]
            both = []
            for d in range(self.directions):  # (the reverse direction reads the steps from the last)
                state, outputs = states[layer * self.directions + d], [None] * steps
                for t in (reversed(range(steps)) if d else range(steps)):
                    outputs[t], state = self._step(inputs[t], state, layer, d)
                both.append(outputs)
                finals.append(state)
            inputs = both[0] if self.directions == 1 else [functional.cat(hs, axis=1) for hs in zip(*both)]
        out = functional.stack(inputs, axis=1 if self.batch_first and not unbatched else 0)
        if unbatched:
            out = out.reshape(steps, self.hidden_size * self.directions)
        return out, self._final(finals, unbatched)

    def _final(self, finals: list[Any], unbatched: bool) -> State:
        h = functional.stack(finals, axis=0)
        return h.reshape(self._stack, self.hidden_size) if unbatched else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_Recurrent):
    """The Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh), or relu with nonlinearity="relu"."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: _dt.DTypeLike = "float32", generator: creation.Seed = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype,
                         generator)
        self.nonlinearity = nonlinearity

    def _start(self, batch: int, dtype: np.dtype) -> list[Any]:
        return [Tensor(np.zeros((batch, self.hidden_size), dtype)) for _ in range(self._stack)]

    def _step(self, x: Tensor, h: Tensor, layer: int, d: int) -> tuple[Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
        pre = functional.linear(x, w_ih, b_ih) + functional.linear(h, w_hh, b_hh)
        h = pre.tanh() if self.nonlinearity == "tanh" else pre.relu()
        return h, h



class LSTM(_Recurrent):
    """Long short-term memory: the cell c carries on by the forget gate and takes in the input gate's
    share of a new candidate; h is the output gate's share of tanh(c). Gates in PyTorch's order
    (input, forget, cell, output) in the stacked weights; the state is (h, c)."""

    blocks = 4

    def _start(self, batch: int, dtype: np.dtype) -> list[Any]:
        z = np.zeros((batch, self.hidden_size), dtype)
        return [(Tensor(z), Tensor(z)) for _ in range(self._stack)]

    def _given(self, hx: State, batch: int, unbatched: bool) -> list[Any]:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ValueError("LSTM: the state is a pair (h_0, c_0), each (num_layers * directions, N, hidden_size)")
        h = self._check_state("h_0", hx[0], batch, unbatched)
        c = self._check_state("c_0", hx[1], batch, unbatched)
        return [(h[i], c[i]) for i in range(self._stack)]

    def _step(self, x: Tensor, state: tuple[Tensor, Tensor], layer: int, d: int) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
        gates = functional.linear(x, w_ih, b_ih) + functional.linear(h, w_hh, b_hh)
        i, f, g, o = gates.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return h, (h, c)

    def _final(self, finals: list[Any], unbatched: bool) -> State:
        h = functional.stack([s[0] for s in finals], axis=0)
        c = functional.stack([s[1] for s in finals], axis=0)
        if unbatched:
            return h.reshape(self._stack, self.hidden_size), c.reshape(self._stack, self.hidden_size)
        return h, c


class GRU(_Recurrent):
    """Gated recurrent unit: a reset gate r decides how much of h the candidate n sees, an update
    gate z how much of h carries on: h' = (1 - z) n + z h. Gates in PyTorch's order (reset,
    update, new) in the stacked weights."""

    blocks = 3

    def _start(self, batch: int, dtype: np.dtype) -> list[Any]:
        return [Tensor(np.zeros((batch, self.hidden_size), dtype)) for _ in range(self._stack)]

    def _step(self, x: Tensor, h: Tensor, layer: int, d: int) -> tuple[Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
        xr, xz, xn = functional.linear(x, w_ih, b_ih).chunk(3, dim=1)
        hr, hz, hn = functional.linear(h, w_hh, b_hh).chunk(3, dim=1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        n = (xn + r * hn).tanh()
        h = (1 - z) * n + z * h
        return h, h
