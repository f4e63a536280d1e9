"""Small helpers shared by the tests."""
import math

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


def conv2d_ref(x, w, *b, stride, padding, dilation, groups=1):
    """Output element by element: a sum over the window, written as the definition (groups: each
    group of output channels sees its own group of input channels)."""
    if groups > 1:
        xs, ws = np.split(x, groups, axis=1), np.split(w, groups, axis=0)
        y = np.concatenate([conv2d_ref(xg, wg, stride=stride, padding=padding, dilation=dilation)
                            for xg, wg in zip(xs, ws)], axis=1)
        return y + (b[0][None, :, None, None] if b else 0)
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


def conv_transpose2d_ref(x, w, *b, stride, padding, output_padding, dilation, groups=1):
    """The definition, input pixel by input pixel: each scatters w[c] * x[n, c, i, j] into the
    output at (i * stride + a * dilation, j * stride + b * dilation), before the padding is cut off
    (groups: each group of input channels into its own group of output channels)."""
    if groups > 1:
        kw_ = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
        y = np.concatenate([conv_transpose2d_ref(xg, wg, **kw_) for xg, wg in
                            zip(np.split(x, groups, axis=1), np.split(w, groups, axis=0))], axis=1)
        return y + (b[0][None, :, None, None] if b else 0)
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


def pool_ref(x, kernel_size, stride=None, padding=(0, 0), dilation=(1, 1), how=np.max, fill=0.0,
             ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Window by window. ceil_mode: the output size rounded up while the last window starts
    inside the input or its left padding; such a window takes what it covers. Averages (how=np.mean)
    divide the sum by divisor_override, or by the count of the window's elements in the padded input
    (count_include_pad) or in the input itself."""
    (kh, kw), (dh, dw), (ph, pw) = kernel_size, dilation, padding
    sh, sw = stride or kernel_size
    n, c, h, w = x.shape

    def size(n_, k, s, p, d):
        span = n_ + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        return o - 1 if ceil_mode and (o - 1) * s >= n_ + p else o

    ho, wo = size(h, kh, sh, ph, dh), size(w, kw, sw, pw, dw)
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows = [i * sh - ph + a * dh for a in range(kh)]
            cols = [j * sw - pw + b * dw for b in range(kw)]
            vals = [x[:, :, r, q] if 0 <= r < h and 0 <= q < w else np.full((n, c), fill)
                    for r in rows for q in cols if -ph <= r < h + ph and -pw <= q < w + pw]
            if how is np.mean:
                inside = sum(1 for r in rows for q in cols if 0 <= r < h and 0 <= q < w)
                divisor = divisor_override or (len(vals) if count_include_pad else inside)
                y[:, :, i, j] = np.sum(vals, axis=0) / divisor
            else:
                y[:, :, i, j] = how(np.stack(vals), axis=0)
    return y


def adaptive_avg_pool_ref(x, output_size):
    """Window (i, j): rows floor(i H / Ho) up to ceil((i + 1) H / Ho), columns likewise; its mean."""
    (h, w), (ho, wo) = x.shape[2:], output_size
    y = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, r1 = math.floor(i * h / ho), math.ceil((i + 1) * h / ho)
            c0, c1 = math.floor(j * w / wo), math.ceil((j + 1) * w / wo)
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


def unpool_ref(x, indices, output_size):
    """max_unpool2d element by element, in row-major order: a later x put at a place replaces an
    earlier one."""
    n, c = x.shape[:2]
    y = np.zeros((n, c) + tuple(output_size), dtype=x.dtype)
    for i, j in np.ndindex(n, c):
        plane = y[i, j].reshape(-1)
        for v, k in zip(x[i, j].ravel(), indices[i, j].ravel()):
            plane[k] = v
    return y
