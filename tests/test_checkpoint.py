"""Checkpoints: round trips, atomic writes, and clear errors for bad paths and bad files."""
import os
import zipfile

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import nn, optim
from tinygrad_sm.checkpoint import CheckpointError


def test_module_round_trip(tmp_path):
    m = nn.MLP([4, 3, 2], generator=0)
    ts.save(m, tmp_path / "m.npz")
    state = ts.load(tmp_path / "m.npz")
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    m2 = nn.MLP([4, 3, 2], generator=1)
    m2.load_state_dict(state)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype == np.float32


def test_nested_state_keeps_structure_types_and_dtypes(tmp_path):
    obj = {"model": {"w": np.arange(6, dtype=np.float64).reshape(2, 3), "i": np.arange(3, dtype=np.int32)},
           "epoch": 3, "lr": 0.1, "name": "mlp", "none": None, "flag": True, "nan": float("nan"),
           "sizes": [784, 256, 10], "betas": (0.9, 0.999), "hist": [{"loss": 0.5}, {"loss": 0.25}]}
    ts.save(obj, tmp_path / "c.npz")
    back = ts.load(tmp_path / "c.npz")
    assert back["epoch"] == 3 and isinstance(back["epoch"], int)
    assert back["lr"] == 0.1 and back["name"] == "mlp" and back["none"] is None and back["flag"] is True
    assert np.isnan(back["nan"])
    assert back["sizes"] == [784, 256, 10] and back["betas"] == (0.9, 0.999)
    assert back["hist"] == [{"loss": 0.5}, {"loss": 0.25}]
    assert back["model"]["i"].dtype == np.int32
    np.testing.assert_array_equal(back["model"]["w"], obj["model"]["w"])


def test_optimizer_state_round_trip_resumes_exactly(tmp_path):
    w0 = np.random.default_rng(0).standard_normal((3, 3))

    def run(w, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            (w.tanh() ** 2).sum().backward()
            opt.step()

    a = ts.Tensor(w0.copy(), requires_grad=True)
    oa = optim.Adam([a], lr=0.1)
    run(a, oa, 4)
    b = ts.Tensor(w0.copy(), requires_grad=True)
    ob = optim.Adam([b], lr=0.1)
    run(b, ob, 2)
    ts.save({"w": b, "opt": ob.state_dict()}, tmp_path / "r.npz")
    ck = ts.load(tmp_path / "r.npz")
    c = ts.Tensor(ck["w"], requires_grad=True)
    oc = optim.Adam([c], lr=0.1)
    oc.load_state_dict(ck["opt"])
    run(c, oc, 2)
    np.testing.assert_array_equal(c.data, a.data)


def test_unwritable_directory_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    # Simulated: the tests may run as root, for whom chmod does not make a directory read-only.
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(CheckpointError, match="cannot write checkpoint .*x.npz in .*: Permission denied"):
        ts.save({"a": np.ones(2)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        ts.save({"a": np.ones(2)}, tmp_path / "nope" / "x.npz")


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    ts.save({"a": np.ones(2)}, path)

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(CheckpointError, match="No space left"):
        ts.save({"a": np.zeros(2)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(ts.load(path)["a"], np.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]


def test_unsupported_values_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"\['opt'\]: object is not"):
        ts.save({"opt": object()}, tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="keys must be non-empty strings"):
        ts.save({1: np.ones(1)}, tmp_path / "x.npz")
    for bad in ("x\0y", "\udcff"):  # a zip member's name ends at NUL and is UTF-8: the file would not load
        with pytest.raises(CheckpointError, match="without '/' or NUL, in UTF-8"):
            ts.save({bad: np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="'__tree__' at the top"):  # the file's own index
        ts.save({"__tree__": np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(CheckpointError, match="got ''"):  # {"": {"a": x}} would store x as "a" too
        ts.save({"": {"a": np.ones(1)}, "a": np.zeros(1)}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    ts.save({"m": {"__tree__": np.ones(1)}}, tmp_path / "x.npz")  # below the top it is a plain key
    assert ts.load(tmp_path / "x.npz")["m"]["__tree__"].tolist() == [1.0]


def test_loading_bad_files_says_what_is_wrong(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        ts.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="is not a checkpoint: a checkpoint is an .npz file"):
        ts.load(junk)
    np.save(tmp_path / "w.npy", np.ones(2))  # np.load would read it (and suggest unpickling JSON)
    (tmp_path / "metrics.json").write_text('{"status": "ok"}')
    for name in ("w.npy", "metrics.json"):
        with pytest.raises(CheckpointError, match="is not a checkpoint"):
            ts.load(tmp_path / name)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(2))
    with pytest.raises(CheckpointError, match="not a tinygrad_sm checkpoint"):
        ts.load(plain)
    good = tmp_path / "good.npz"
    ts.save({"a": np.ones(1000)}, good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        ts.load(cut)


@pytest.mark.parametrize("tree, match", [
    ('[1, 2]', "holds no tree"),
    ('{"format": "tinygrad_sm.checkpoint/1"}', "holds no tree"),
    ('{"format": "tinygrad_sm.checkpoint/1", "tree": [1]}', "is damaged"),
    ('{"format": "tinygrad_sm.checkpoint/1", "tree": {"dict": [["a", 5]]}}', "is damaged"),
    ('{"format": "tinygrad_sm.checkpoint/1", "tree": {"dict": 3}}', "is damaged"),
])
def test_a_damaged_index_is_a_checkpoint_error(tmp_path, tree, match):
    path = tmp_path / "odd.npz"
    np.savez(path, __tree__=np.array(tree))
    with pytest.raises(CheckpointError, match=match):
        ts.load(path)


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as z:
        np.lib.format.write_array(z.open("__tree__.npy", "w"), np.array([{"x": 1}], dtype=object),
                                  allow_pickle=True)
    with pytest.raises(CheckpointError):
        ts.load(path)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_checkpoint_gets_the_mode_a_plain_open_would_give(tmp_path, umask):
    # the temporary file behind the atomic write is created 0600; the checkpoint must not stay so
    old = os.umask(umask)
    try:
        ts.save({"w": np.ones(3)}, tmp_path / "c.npz")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    mode = (tmp_path / "c.npz").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain").stat().st_mode & 0o777 == 0o666 & ~umask


def test_any_key_is_stored_even_the_names_of_savez_arguments(tmp_path):
    """np.savez(f, **arrays) takes `file` and `allow_pickle` for its own arguments."""
    state = {"allow_pickle": np.ones(3), "file": np.arange(2), "args": np.zeros(1)}
    ts.save(state, tmp_path / "k.npz")
    back = ts.load(tmp_path / "k.npz")
    assert list(back) == list(state)
    for k, v in state.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype


def test_keys_ending_in_npy_come_back_as_saved(tmp_path):
    """NumPy's npz reader tries a name as given before adding .npy: 'w.npy' must not read the
    member of the key 'w', nor '__tree__.npy' the checkpoint's own tree."""
    ts.save({"w.npy": np.zeros(2), "w": np.ones(2), "__tree__.npy": np.arange(3)}, tmp_path / "k.npz")
    back = ts.load(tmp_path / "k.npz")
    np.testing.assert_array_equal(back["w.npy"], np.zeros(2))
    np.testing.assert_array_equal(back["w"], np.ones(2))
    np.testing.assert_array_equal(back["__tree__.npy"], np.arange(3))
