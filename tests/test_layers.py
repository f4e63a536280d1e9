"""Convolution, pooling, normalisation and embedding layers, against PyTorch's (tinygrad_sm/layers.py,
gates/conv.py). The gates' own gradient checks are in test_properties and test_gates."""
import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import nn
from tinygrad_sm import functional as F

R = np.random.default_rng(7)


def _both(torch, *arrays):
    """Each array as a float64 leaf of ours and of PyTorch's."""
    return ([ts.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _same_grads(ours, theirs, rtol=1e-10):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=1e-12)


def _same_step(y, ty, ours, theirs, rtol=1e-10):
    """The outputs agree; then, after a backward of the same random upstream gradient, so do the
    gradients of the leaves `ours` and `theirs`."""
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(ty.new_tensor(g))
    _same_grads(ours, theirs, rtol)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1),
                                dict(stride=(3, 2), padding=(2, 0), output_padding=(2, 1)),
                                dict(dilation=2, padding=1, output_padding=1), dict(stride=2, dilation=3, output_padding=2)])
def test_conv_transpose2d_and_its_three_gradients_are_pytorchs(kw, torch):
    x, w, b = R.standard_normal((2, 3, 5, 4)), R.standard_normal((3, 4, 3, 2)), R.standard_normal(4)
    (ox, ow, ob), (tx, tw, tb) = _both(torch, x, w, b)
    _same_step(F.conv_transpose2d(ox, ow, ob, **kw), torch.nn.functional.conv_transpose2d(tx, tw, tb, **kw),
               (ox, ow, ob), (tx, tw, tb))


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("groups, c, o", [(2, 4, 6), (4, 4, 4), (3, 3, 6)])
def test_grouped_and_depthwise_convolutions_are_pytorchs(transposed, groups, c, o, torch):
    x = R.standard_normal((2, c, 6, 5))
    w = R.standard_normal((c, o // groups, 3, 2) if transposed else (o, c // groups, 3, 2))
    b = R.standard_normal(o)
    (ox, ow, ob), (tx, tw, tb) = _both(torch, x, w, b)
    ours, theirs = (F.conv_transpose2d, torch.nn.functional.conv_transpose2d) if transposed else (
        F.conv2d, torch.nn.functional.conv2d)
    kw = dict(stride=2, padding=1, groups=groups)
    _same_step(ours(ox, ow, ob, **kw), theirs(tx, tw, tb, **kw), (ox, ow, ob), (tx, tw, tb))


def test_grouped_layers_have_pytorchs_weight_shapes_and_repr(torch):
    assert nn.Conv2d(4, 8, 3, groups=4).weight.shape == tuple(torch.nn.Conv2d(4, 8, 3, groups=4).weight.shape)
    assert nn.ConvTranspose2d(4, 8, 3, groups=2).weight.shape == tuple(
        torch.nn.ConvTranspose2d(4, 8, 3, groups=2).weight.shape)
    assert repr(nn.Conv2d(4, 8, 3, groups=4)) == "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), groups=4)"
    depthwise = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, groups=3), nn.Conv2d(3, 8, 1))  # (separable)
    assert depthwise(ts.zeros(2, 3, 7, 7)).shape == (2, 8, 7, 7)


def test_conv_transpose2d_is_conv2ds_input_gradient():
    """What the transposed convolution is: y = conv_transpose2d(x, w) is the gradient that
    conv2d(z, w) sends back to z when the upstream gradient is x."""
    w = ts.tensor(R.standard_normal((3, 2, 3, 3)))
    z = ts.tensor(R.standard_normal((2, 2, 9, 9)), requires_grad=True)
    g = R.standard_normal((2, 3, 4, 4))
    F.conv2d(z, w, stride=2).backward(g)
    y = F.conv_transpose2d(ts.tensor(g), w, stride=2)
    np.testing.assert_allclose(y.numpy(), z.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_conv_transpose2d_layer_upsamples_in_float32_as_pytorchs_and_takes_one_image(torch):
    layer = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, generator=0)
    t = torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(layer.weight.numpy()))
        t.bias.copy_(torch.from_numpy(R.standard_normal(2).astype(np.float32)))
    layer.bias.data[...] = t.bias.detach().numpy()
    x = R.standard_normal((3, 4, 7, 7)).astype(np.float32)
    y = layer(ts.tensor(x))
    assert y.shape == (3, 2, 14, 14) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer(ts.tensor(x[0])).numpy(), y.numpy()[0])
    assert repr(layer) == "ConvTranspose2d(4, 2, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))"
    assert layer.weight.shape == (4, 2, 4, 4)


def test_conv_transpose2d_layer_takes_an_output_size_as_pytorchs(torch):
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dilation=1, generator=1)
    t = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(layer.weight.numpy()))
        t.bias.zero_()
    x = R.standard_normal((1, 2, 4, 4)).astype(np.float32)
    for size in ((7, 7), (8, 7), (1, 3, 8, 8)):
        y, ty = layer(ts.tensor(x), output_size=size), t(torch.from_numpy(x), output_size=size)
        assert y.shape == tuple(ty.shape)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"output_size \(9, 7\) cannot come from an input of \(4, 4\)"):
        layer(ts.tensor(x), output_size=(9, 7))
    with pytest.raises(ValueError, match=r"between 8 and 8"):  # (as PyTorch: the stride sets the range)
        nn.ConvTranspose2d(2, 2, 3, dilation=2)(ts.ones(1, 2, 4, 4), output_size=(9, 9))
    assert repr(nn.ConvTranspose2d(2, 3, 3, dilation=2, output_padding=1)) == (
        "ConvTranspose2d(2, 3, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2), output_padding=(1, 1))")


def test_a_small_convolutional_autoencoder_learns_to_reconstruct():
    ts.manual_seed(0)
    x = ts.tensor((R.random((16, 1, 8, 8)) > 0.6).astype(np.float32))
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1))
    opt = ts.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.mse_loss(model(x), x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model(x).shape == x.shape and losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize("call, match", [
    (lambda: F.conv_transpose2d(ts.zeros(1, 3, 4, 4), ts.zeros(2, 3, 3, 3)),
     r"conv_transpose2d: input of shape \(1, 3, 4, 4\) has 3 channels, weight of shape \(2, 3, 3, 3\) expects 2"),
    (lambda: F.conv_transpose2d(ts.zeros(1, 2, 4, 4), ts.zeros(2, 3, 3, 3), stride=2, output_padding=2),
     r"output_padding \(2, 2\) must be smaller than the stride \(2, 2\) or the dilation"),
    (lambda: F.conv_transpose2d(ts.zeros(1, 2, 1, 1), ts.zeros(2, 3, 1, 1), padding=1), "gives an empty -1x-1 output"),
    (lambda: F.conv_transpose2d(ts.zeros(1, 2, 4, 4), ts.zeros(2, 3, 3, 3), ts.zeros(2)),
     r"bias must have shape \(3,\)"),
    (lambda: F.conv_transpose2d(ts.zeros(3, 4, 4), ts.zeros(3, 3, 3, 3), groups=2), "3 input channels, which 2 groups"),
    (lambda: F.conv_transpose2d(ts.zeros(4, 4), ts.zeros(2, 3, 3, 3)), r"shape \(N, C, H, W\) or \(C, H, W\)"),
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=1, output_padding=1), "output_padding .* must be smaller"),
    (lambda: nn.ConvTranspose2d(2, 3, 3)(ts.zeros(1, 3, 4, 4)), r"ConvTranspose2d\(2, 3\): input of shape"),
])
def test_conv_transpose2d_bad_input_says_what_is_wrong(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(padding=1), dict(padding=(2, 0), stride=(1, 2)),
                                dict(dilation=2, padding=2), dict(padding="same"), dict(padding="same", dilation=2),
                                dict(padding="valid")])
def test_conv2d_and_its_three_gradients_are_pytorchs(kw, torch):
    x, w, b = R.standard_normal((2, 3, 9, 8)), R.standard_normal((4, 3, 3, 3)), R.standard_normal(4)
    (ox, ow, ob), (tx, tw, tb) = _both(torch, x, w, b)
    _same_step(F.conv2d(ox, ow, ob, **kw), torch.nn.functional.conv2d(tx, tw, tb, **kw), (ox, ow, ob), (tx, tw, tb))


@pytest.mark.parametrize("images, blocks", [(1, 7), (2, 4), (3, 3)])
def test_conv2d_a_block_of_images_at_a_time_gives_the_same_as_pytorch(images, blocks, torch, monkeypatch):
    per_image = 2 * 3 * 3 * 6 * 5 * 8  # (C * kh * kw * Ho * Wo float64 columns of one image, with padding 1)
    monkeypatch.setattr(ts.gates.conv, "COLUMN_BYTES", images * per_image + 1)
    assert len(ts.gates.Conv2d._blocks((7, 2, 6, 5), (3, 3), (6, 5), 8)) == blocks  # (a short last block too)
    x, w, b = R.standard_normal((7, 2, 6, 5)), R.standard_normal((3, 2, 3, 3)), R.standard_normal(3)
    (ox, ow, ob), (tx, tw, tb) = _both(torch, x, w, b)
    _same_step(F.conv2d(ox, ow, ob, padding=1), torch.nn.functional.conv2d(tx, tw, tb, padding=1), (ox, ow, ob),
               (tx, tw, tb))


def test_conv2d_takes_one_image_and_integer_pixels_as_pytorch_and_linear_do(torch):
    w = ts.tensor(R.standard_normal((2, 1, 3, 3)).astype(np.float32))
    img = R.integers(0, 256, (1, 5, 5)).astype(np.uint8)
    y = F.conv2d(ts.tensor(img), w)
    assert y.shape == (2, 3, 3) and y.dtype == np.float32
    ty = torch.nn.functional.conv2d(torch.tensor(img, dtype=torch.float32), torch.tensor(w.numpy()))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda: F.conv2d(ts.zeros(1, 2, 5, 5), ts.zeros(3, 4, 3, 3)), r"input of shape \(1, 2, 5, 5\) has 2 channels, "
                                                                   r"weight of shape \(3, 4, 3, 3\) expects 4"),
    (lambda: F.conv2d(ts.zeros(1, 1, 2, 2), ts.zeros(1, 1, 3, 3)), r"2x2.*smaller than the kernel's 3x3"),
    (lambda: F.conv2d(ts.zeros(5, 5), ts.zeros(1, 1, 3, 3)), r"\(N, C, H, W\) or \(C, H, W\), got \(5, 5\)"),
    (lambda: F.conv2d(ts.zeros(1, 1, 5, 5), ts.zeros(1, 1, 3, 3), stride=0), "stride must be an int >= 1"),
    (lambda: F.conv2d(ts.zeros(1, 1, 5, 5), ts.zeros(1, 1, 2, 2), padding="same"), "one side more than the other"),
    (lambda: F.conv2d(ts.zeros(1, 2, 5, 5), ts.zeros(3, 1, 3, 3), groups=2), "3 output channels, which 2 groups cannot"),
    (lambda: F.conv2d(ts.zeros(1, 4, 5, 5), ts.zeros(2, 1, 3, 3), groups=2), r"expects 2 \(2 groups of 1\)"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"Conv2d: out_channels \(6\) must be divisible by groups \(4\)"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, groups=2), r"ConvTranspose2d: in_channels \(3\) must be divisible"),
    (lambda: F.conv2d(ts.zeros(1, 1, 5, 5), ts.zeros(1, 1, 3, 3), ts.zeros(2)), r"bias must have shape \(1,\)"),
    (lambda: F.conv2d(ts.zeros(1, 1, 5, 5, dtype="float64"), ts.zeros(1, 1, 3, 3)), "input is float64 but the weight"),
    (lambda: nn.Conv2d(3, 4, 3)(ts.zeros(1, 2, 5, 5)), r"Conv2d\(3, 4\): input of shape \(1, 2, 5, 5\) needs 3 channels"),
    (lambda: F.max_pool2d(ts.zeros(1, 1, 4, 4), 2, padding=2), "more than half the kernel"),
    (lambda: F.max_pool2d(ts.zeros(1, 1, 4, 4), 2, return_indices=1), "return_indices must be True or False"),
    (lambda: F.avg_pool2d(ts.zeros(1, 1, 4, 4), 2, ceil_mode=1), "ceil_mode must be True or False"),
    (lambda: F.avg_pool2d(ts.zeros(1, 1, 4, 4), 2, divisor_override=0), "divisor_override must be an int >= 1"),
    (lambda: nn.AvgPool2d(2, count_include_pad="no"), "count_include_pad must be True or False"),
    (lambda: F.adaptive_avg_pool2d(ts.zeros(1, 1, 4, 4), 0), "output_size must be an int >= 1"),
    (lambda: F.adaptive_avg_pool2d(ts.zeros(4, 4), 2), r"\(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"),
    (lambda: nn.AdaptiveAvgPool2d((2, 2, 2)), "AdaptiveAvgPool2d: output_size must be"),
    (lambda: nn.AdaptiveAvgPool2d((2,)), "AdaptiveAvgPool2d: output_size must be"),
    (lambda: nn.AdaptiveAvgPool2d(None), "AdaptiveAvgPool2d: output_size must be"),
])
def test_bad_convolutions_and_pools_are_named_with_their_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=(2, 3), stride=(1, 2)), dict(kernel_size=2, stride=1, dilation=2)])
def test_max_pool2d_routes_like_pytorchs_even_through_the_ties_relu_leaves(kw, torch):
    x = np.maximum(R.standard_normal((2, 3, 7, 8)), 0)  # (zeros everywhere ReLU cut: tied windows)
    (ox,), (tx,) = _both(torch, x)
    y, ty = F.max_pool2d(ox, **kw), torch.nn.functional.max_pool2d(tx, **kw)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))  # (where windows overlap, the two add their shares in another order)
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))])
def test_avg_pool2d_and_its_gradient_are_pytorchs(kw, torch):
    (ox,), (tx,) = _both(torch, R.standard_normal((2, 2, 7, 6)))
    y, ty = F.avg_pool2d(ox, **kw), torch.nn.functional.avg_pool2d(tx, **kw)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    g = R.standard_normal(y.shape)  # (not all ones: a gradient sent to the wrong place shows)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _same_grads([ox], [tx])


def _same_max_pool(torch, x, kw):
    """max_pool2d(**kw) of x: the same values as PyTorch's, then the same gradient (windows
    that overlap add their shares in another order: to rounding)."""
    (ox,), (tx,) = _both(torch, x)
    y, ty = F.max_pool2d(ox, **kw), torch.nn.functional.max_pool2d(tx, **kw)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_max_pool2d_sends_a_nan_windows_gradient_where_pytorch_does(kw, torch):
    """Windows with one NaN or several (PyTorch: the last NaN), and NaN beside ties."""
    x = np.round(R.standard_normal((2, 2, 6, 6)))
    x[R.random(x.shape) < 0.3] = np.nan
    _same_max_pool(torch, x, kw)


@pytest.mark.parametrize("kw", [dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(2, 3), stride=(2, 2), ceil_mode=True, dilation=(1, 2))])
def test_max_pool2d_with_ceil_mode_is_pytorchs(kw, torch):
    _same_max_pool(torch, R.standard_normal((2, 2, 7, 8)), kw)


@pytest.mark.parametrize("kw", [dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                dict(kernel_size=(2, 3), padding=(1, 1), divisor_override=4),
                                dict(kernel_size=2, stride=3, ceil_mode=True, divisor_override=3)])
def test_avg_pool2d_with_ceil_mode_count_include_pad_and_divisor_override_is_pytorchs(kw, torch):
    (ox,), (tx,) = _both(torch, R.standard_normal((2, 2, 7, 6)))
    y, ty = F.avg_pool2d(ox, **kw), torch.nn.functional.avg_pool2d(tx, **kw)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)  # (means near 0: sums cancel)
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _same_grads([ox], [tx])
    layer = nn.AvgPool2d(**kw)
    np.testing.assert_array_equal(layer(ts.tensor(ox.numpy())).numpy(), y.numpy())


@pytest.mark.parametrize("size", [1, 3, (2, 4), (None, 2), (7, 6), (9, 8)])
def test_adaptive_avg_pool2d_and_its_gradient_are_pytorchs(size, torch):
    (ox,), (tx,) = _both(torch, R.standard_normal((2, 3, 7, 6)))
    y, ty = F.adaptive_avg_pool2d(ox, size), torch.nn.functional.adaptive_avg_pool2d(tx, size)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    _same_grads([ox], [tx])


def test_global_average_pooling_makes_a_cnn_take_any_image_size():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    for side in (8, 13, 28):
        assert model(ts.zeros(2, 1, side, side)).shape == (2, 3)
    assert repr(nn.AdaptiveAvgPool2d((None, 2))) == "AdaptiveAvgPool2d(output_size=(None, 2))"
    assert repr(nn.MaxPool2d(2, ceil_mode=True)).endswith("ceil_mode=True)")
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    with pytest.raises(TypeError, match="output_size is an int or a pair"):
        F.adaptive_avg_pool2d(ts.zeros(1, 1, 4, 4), None)


def _cnn(lib, dtype):
    n = lib.nn
    return n.Sequential(n.Conv2d(1, 4, 5, dtype=dtype), n.BatchNorm2d(4, dtype=dtype), n.ReLU(), n.MaxPool2d(2),
                        n.Conv2d(4, 6, 3, padding=1, dtype=dtype), n.ReLU(), n.AvgPool2d(2), n.Flatten(),
                        n.Linear(6 * 2 * 2, 10, dtype=dtype))


def test_a_small_cnn_trains_step_for_step_as_pytorchs(torch):
    model, tmodel = _cnn(ts, "float64"), _cnn(torch, torch.float64)
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    assert list(model.state_dict()) == list(tmodel.state_dict())  # (same names, same order)
    opt = ts.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9)
    for step in range(4):
        x, y = R.standard_normal((8, 1, 14, 14)), R.integers(0, 10, 8)
        for o, m, X, Y, ce in ((opt, model, ts.tensor(x), y, ts.cross_entropy),
                               (topt, tmodel, torch.tensor(x), torch.tensor(y), torch.nn.functional.cross_entropy)):
            o.zero_grad()
            ce(m(X), Y).backward()
            o.step()
    for (k, v), tv in zip(model.state_dict().items(), tmodel.state_dict().values()):
        np.testing.assert_allclose(v, tv.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    model.eval()
    tmodel.eval()
    x = R.standard_normal((3, 1, 14, 14))
    np.testing.assert_allclose(model(ts.tensor(x)).numpy(), tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-9)


@pytest.mark.parametrize("layer, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 2, 5))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_trains_and_evaluates_as_pytorchs(layer, shape, momentum, torch):
    ours = getattr(nn, layer)(3, momentum=momentum, dtype="float64")
    theirs = getattr(torch.nn, layer)(3, momentum=momentum, dtype=torch.float64)
    with ts.no_grad():
        ours.weight.data[:] = [0.5, 1.5, -1.0]
        ours.bias.data[:] = [0.1, 0.0, -0.2]
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    for step in range(3):
        (x,), (tx,) = _both(torch, R.standard_normal(shape) * 2 + 1)
        _same_step(ours(x), theirs(tx), [x, ours.weight, ours.bias], [tx, theirs.weight, theirs.bias], rtol=1e-9)
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, theirs.state_dict()[k].numpy(), rtol=1e-12, err_msg=k)
    ours.eval()
    theirs.eval()
    x = R.standard_normal(shape)
    np.testing.assert_allclose(ours(ts.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    assert int(ours.num_batches_tracked.item()) == 3


def test_batch_norm_refuses_a_batch_of_one_while_training_and_the_wrong_channels():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(ts.zeros(1, 3))
    bn.eval()
    assert bn(ts.zeros(1, 3)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): input must be 2-d or 3-d with 3 channels in dim 1"):
        bn(ts.zeros(4, 2))
    with pytest.raises(ValueError, match="momentum must be"):
        nn.BatchNorm2d(3, momentum=2)


@pytest.mark.parametrize("shape, normalized", [((4, 6), 6), ((2, 3, 4), (3, 4))])
def test_layer_norm_and_its_gradients_are_pytorchs(shape, normalized, torch):
    ours = nn.LayerNorm(normalized, dtype="float64")
    theirs = torch.nn.LayerNorm(normalized, dtype=torch.float64)
    with ts.no_grad():
        ours.weight.data[...] = R.standard_normal(ours.weight.shape)
        ours.bias.data[...] = R.standard_normal(ours.bias.shape)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    (x,), (tx,) = _both(torch, R.standard_normal(shape))
    _same_step(ours(x), theirs(tx), [x, ours.weight, ours.bias], [tx, theirs.weight, theirs.bias], rtol=1e-9)
    with pytest.raises(ValueError, match=r"normalized_shape \(5,\) must be the last dims"):
        F.layer_norm(ts.zeros(2, 4), (5,))


def test_embedding_gathers_rows_and_sums_repeated_gradients_except_padding_as_pytorch(torch):
    ours = nn.Embedding(6, 3, padding_idx=1, dtype="float64")
    theirs = torch.nn.Embedding(6, 3, padding_idx=1, dtype=torch.float64)
    assert not ours.weight.numpy()[1].any()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    idx = np.array([[0, 1, 4], [4, 4, 1]])
    y, ty = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    assert not ours.weight.grad.numpy()[1].any() and ours.weight.grad.numpy()[4].any()
    with pytest.raises(IndexError, match="index 6 is out of range for 6 embeddings"):
        ours(np.array([6]))
    with pytest.raises(TypeError, match="indices must be integers"):
        ours(np.array([1.0]))


def test_layers_print_and_save_like_the_rest(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, bias=False), nn.BatchNorm2d(2), nn.Embedding(4, 2))
    text = repr(model)
    assert "Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), bias=False)" in text and "BatchNorm2d(2" in text
    model[1](model[0](ts.randn(3, 1, 7, 7)))  # (the running statistics move off their defaults)
    assert int(model[1].num_batches_tracked.item()) == 1 and model[1].running_mean.numpy().any()
    ts.save(model, tmp_path / "m.ckpt")
    other = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, bias=False), nn.BatchNorm2d(2), nn.Embedding(4, 2))
    other.load_state_dict(ts.load(tmp_path / "m.ckpt"))
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_an_empty_batch_goes_through_convolution_and_pooling_as_in_pytorch(backend, torch):
    before = ts.kernels.get_backend()
    ts.kernels.set_backend(backend)  # (the NumPy reference kernels too)
    try:
        _empty_batches(torch)
    finally:
        ts.kernels.set_backend(before)


def _empty_batches(torch):
    for call in (lambda lib, x: lib.nn.functional.conv2d(x, lib.ones(3, 2, 3, 3, dtype=x.dtype)),
                 lambda lib, x: lib.nn.functional.max_pool2d(x, 2),
                 lambda lib, x: lib.nn.functional.avg_pool2d(x, 2, 1, 1)):
        x = ts.zeros(0, 2, 5, 5, requires_grad=True)
        y = call(ts, x)
        assert y.shape == tuple(call(torch, torch.zeros(0, 2, 5, 5)).shape)
        y.sum().backward()
        assert x.grad.shape == (0, 2, 5, 5)


def test_max_pool_takes_integer_images_with_padding(torch):
    x = np.arange(50).reshape(1, 2, 5, 5)
    np.testing.assert_array_equal(F.max_pool2d(ts.tensor(x), 2, padding=1).numpy(),
                                  torch.nn.functional.max_pool2d(torch.tensor(x), 2, padding=1).numpy())


def test_normalisation_refuses_integers_and_mixed_dtypes_and_wrong_shapes():
    with pytest.raises(TypeError, match="batch_norm takes floating-point input, got int64"):
        nn.BatchNorm1d(3)(ts.tensor(np.arange(12).reshape(4, 3)))
    with pytest.raises(TypeError, match=r"input is float64 but the layer's .* float32; convert the input"):
        nn.BatchNorm1d(3)(ts.zeros(4, 3, dtype="float64"))
    with pytest.raises(TypeError, match="input is float64"):
        nn.LayerNorm(3)(ts.zeros(4, 3, dtype="float64"))
    with pytest.raises(ValueError, match=r"weight must have the normalized shape \(3,\), got \(1,\)"):
        F.layer_norm(ts.zeros(2, 3), (3,), weight=ts.ones(1))
    with pytest.raises(TypeError, match="weight must be a Tensor, got a ndarray"):
        F.conv2d(ts.zeros(1, 1, 4, 4), np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        nn.MaxPool2d(2, stride=0)
    with pytest.raises(ValueError, match="padding"):
        nn.AvgPool2d(2, padding=3)


def test_a_refused_batch_is_not_counted_and_says_its_size():
    bn = nn.BatchNorm1d(3, momentum=None)
    with pytest.raises(ValueError, match="has 0"):
        bn(ts.zeros(0, 3))
    with pytest.raises(ValueError, match="has 1"):
        bn(ts.zeros(1, 3))
    assert int(bn.num_batches_tracked.item()) == 0


def test_running_statistics_written_under_a_graph_that_saved_them_make_its_backward_refuse():
    bn = nn.BatchNorm1d(2, dtype="float64")
    x = ts.tensor(np.ones(2), requires_grad=True)
    y = (x * bn.running_var).sum()
    bn(ts.tensor([[0.0, 0.0], [10.0, 10.0]], dtype="float64"))  # (training: the running statistics move)
    with pytest.raises(RuntimeError, match="running statistics"):
        y.backward()


def test_float32_layers_agree_with_pytorchs_to_float32_rounding(torch):
    model, tmodel = _cnn(ts, "float32"), _cnn(torch, torch.float32)
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    x = R.standard_normal((5, 1, 14, 14)).astype(np.float32)
    ox, tx = ts.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = model(ox), tmodel(tx)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


def test_unflatten_splits_a_dim_as_pytorchs(torch):
    for dim, size, shape in ((1, (1, 4, 4), (3, 16)), (-1, (2, -1), (2, 3, 8)), (0, (2, 3), (6, 5))):
        a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        ours, theirs = nn.Unflatten(dim, size)(ts.tensor(a)), torch.nn.Unflatten(dim, size)(torch.tensor(a))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # (the same elements in the same places)
    with pytest.raises(TypeError, match="unflattened_size is a tuple"):
        nn.Unflatten(1, 4)
    with pytest.raises(TypeError, match="dim must be an int"):
        nn.Unflatten(1.5, (2, 2))
    with pytest.raises(ValueError, match=r"dim 1 of the input \(3, 10\) has 10 elements, which do not make \(1, 4, 4\)"):
        nn.Unflatten(1, (1, 4, 4))(ts.zeros(3, 10))
    with pytest.raises(ValueError, match="unflattened_size must be positive ints"):
        nn.Unflatten(1, (0, 4))


# -- return_indices and MaxUnpool2d ------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=1, dilation=(1, 2)),
                                dict(kernel_size=3, stride=2, ceil_mode=True)])
def test_max_pool2d_gives_pytorchs_indices(kw, torch):
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 8))
    y, idx = F.max_pool2d(ts.tensor(x), return_indices=True, **kw)
    ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    assert idx.dtype == np.int64 and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    pool = nn.MaxPool2d(return_indices=True, **kw)
    one, one_idx = pool(ts.tensor(x[0]))  # (one image, no batch axis)
    np.testing.assert_array_equal(one_idx.numpy(), tidx.numpy()[0])


@pytest.mark.parametrize("size", [None, (9, 8), (1, 3, 9, 9)])
def test_max_unpool2d_puts_each_maximum_back_as_pytorch_does(size, torch):
    x = np.random.default_rng(4).standard_normal((1, 3, 9, 8))
    xt = ts.tensor(x, requires_grad=True)
    y, idx = nn.MaxPool2d(2, return_indices=True)(xt)
    up = nn.MaxUnpool2d(2)(y, idx, output_size=size)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = torch.nn.MaxPool2d(2, return_indices=True)(tx)
    tup = torch.nn.MaxUnpool2d(2)(ty, tidx, output_size=size)
    assert up.shape == tuple(tup.shape)
    np.testing.assert_array_equal(up.numpy(), tup.detach().numpy())
    g = np.random.default_rng(5).standard_normal(up.shape)
    (up * ts.tensor(g)).sum().backward()
    (tup * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), tx.grad.numpy())


def test_unpooling_after_overlapping_windows_gives_the_true_gradient():
    """With stride < kernel one element can win two windows: both carry it to the same place, and
    the unpooled tensor holds it once, so its gradient counts once (the numerical gradient agrees;
    PyTorch's backward counts it once per window)."""
    from tinygrad_sm.testing import gradcheck
    x = ts.tensor(np.array([[[[0.0, 5.0, 1.0, 2.0], [3.0, 4.0, 0.5, 7.0], [6.0, 1.5, 2.5, 3.5]]]]), requires_grad=True)

    def round_trip(t):
        y, idx = F.max_pool2d(t, 2, stride=1, return_indices=True)
        return F.max_unpool2d(y, idx, 2, stride=1, output_size=(3, 4))
    assert gradcheck(round_trip, [x])
    round_trip(x).sum().backward()
    assert x.grad.numpy()[0, 0, 0, 1] == 1.0  # (5 wins two windows; it reaches the output once)


def test_unpooling_an_empty_batch_and_the_layers_repr_are_pytorchs(torch):
    up = F.max_unpool2d(ts.zeros(0, 2, 2, 2), ts.tensor(np.zeros((0, 2, 2, 2), np.int64)), 2)
    tup = torch.nn.functional.max_unpool2d(torch.zeros(0, 2, 2, 2), torch.zeros(0, 2, 2, 2, dtype=torch.int64), 2)
    assert up.shape == tuple(tup.shape) == (0, 2, 4, 4)
    assert repr(nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))


@pytest.mark.parametrize("call, match", [
    (lambda y, i: F.max_unpool2d(y, i.numpy() + 100, 2), r"index 1\d\d is out of range for an output of 8x8"),
    (lambda y, i: F.max_unpool2d(y, i.numpy()[:, :, :2], 2), r"indices must be integers of the input's shape"),
    (lambda y, i: F.max_unpool2d(y, i.numpy().astype(float), 2), r"indices must be integers"),
    (lambda y, i: F.max_unpool2d(y, i, 2, output_size=(10, 8)), r"output_size \(10, 8\) is too far from .*\(8, 8\)"),
    (lambda y, i: F.max_unpool2d(y, i, 2, output_size=(8,)), r"output_size is \(H, W\) or the whole output shape"),
    (lambda y, i: F.max_unpool2d(y, i, 2, output_size=(3, 8, 8)), r"output_size is \(H, W\) or the whole output shape"),
    (lambda y, i: nn.MaxUnpool2d(0), "kernel_size must be an int >= 1"),
])
def test_bad_unpooling_input_is_refused_by_name(call, match):
    y, idx = F.max_pool2d(ts.randn(2, 3, 8, 8), 2, return_indices=True)
    with pytest.raises(ValueError, match=match):
        call(y, idx)
