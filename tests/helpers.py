"""Small helpers shared by the tests."""
import numpy as np

import tinygrad_sm as ts


def leaf(a, dtype="float64", name=None):
    """A float64 leaf that requires grad (gradient checks need float64)."""
    return ts.Tensor(np.asarray(a), dtype=dtype, requires_grad=True, name=name)


def randn(rng, *shape, dtype="float64"):
    return leaf(rng.standard_normal(shape), dtype=dtype)


# -- plain references for convolution and pooling: the definitions, one output position at a time --
def _pad(x, padding, fill=0.0):
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def conv2d_ref(x, w, *b, stride, padding, dilation):
    """Output element by element: a sum over the window, written as the definition."""
    xp = _pad(x, padding)
    (sh, sw), (dh, dw), (o, _, kh, kw) = stride, dilation, w.shape
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
            y[:, :, i, j] = np.einsum("ncpq,ocpq->no", patch, w)
    return y + (b[0][None, :, None, None] if b else 0)


def conv_transpose2d_ref(x, w, *b, stride, padding, output_padding, dilation):
    """The definition, input pixel by input pixel: each scatters w[c] * x[n, c, i, j] into the
    output at (i * stride + a * dilation, j * stride + b * dilation), before the padding is cut off."""
    (sh, sw), (dh, dw), (ph, pw), (oh, ow) = stride, dilation, padding, output_padding
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    full = np.zeros((n, o, (h - 1) * sh + dh * (kh - 1) + 1 + oh, (wd - 1) * sw + dw * (kw - 1) + 1 + ow))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for q in range(kw):
                    full[:, :, i * sh + a * dh, j * sw + q * dw] += x[:, :, i, j] @ w[:, :, a, q]
    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return y + (b[0][None, :, None, None] if b else 0)


def pool_ref(x, kernel_size, stride=None, padding=(0, 0), dilation=(1, 1), how=np.max, fill=0.0):
    xp = _pad(x, padding, fill)
    (kh, kw), (dh, dw) = kernel_size, dilation
    sh, sw = stride or kernel_size
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
            y[:, :, i, j] = how(patch, axis=(2, 3))
    return y
