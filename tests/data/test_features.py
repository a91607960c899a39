import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqattnet.data.features import (
    find_feature_file,
    grid_centres_s,
    index_to_seconds,
    num_snippets,
    read_feature_file,
    read_hdf5_features,
    rescale_to_grid,
    seconds_to_cell,
    seconds_to_index,
    snippet_times_s,
)
from seqattnet.errors import InputError

FEATS = np.arange(5 * 3, dtype=np.float32).reshape(5, 3) / 7.0  # 5 snippets, F = 3


def write_csv(path, array, header=True):
    lines = [",".join(f"f{j}" for j in range(array.shape[1]))] if header else []
    lines += [",".join(repr(float(v)) for v in row) for row in array]
    path.write_text("\n".join(lines) + "\n")


# --- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["npy", "npz", "npz_feats", "npz_features", "pt", "pt_float64", "csv", "csv_noheader"])
def test_every_format_reads_back(tmp_path, fmt):
    path = tmp_path / f"v_abc.{fmt.split('_')[0]}"
    if fmt == "npy":
        np.save(path, FEATS)
    elif fmt == "npz":
        np.savez(path, FEATS)
    elif fmt == "npz_feats":
        np.savez(path, feats=FEATS, other=np.zeros(2))
    elif fmt == "npz_features":
        np.savez(path, features=FEATS, mask=np.ones(5))
    elif fmt == "pt":
        torch.save(torch.from_numpy(FEATS), path)
    elif fmt == "pt_float64":
        torch.save(torch.from_numpy(FEATS.astype(np.float64)), path)
    else:
        write_csv(path, FEATS, header=fmt == "csv")
    out = read_feature_file(path, expected_dim=3)
    assert out.dtype == np.float32 and out.shape == (5, 3)
    np.testing.assert_allclose(out, FEATS, rtol=1e-6)


def test_float64_npy_becomes_float32(tmp_path):
    np.save(tmp_path / "a.npy", FEATS.astype(np.float64))
    assert read_feature_file(tmp_path / "a.npy").dtype == np.float32


def write_bad(tmp_path, case):
    path = tmp_path / "v_bad.npy"
    if case == "missing":
        return tmp_path / "v_nothere.npy", "not found"
    if case == "unreadable":
        path.write_bytes(b"this is not an npy file")
    elif case == "1d":
        np.save(path, np.zeros(4, np.float32))
    elif case == "3d":
        np.save(path, np.zeros((1, 4, 3), np.float32))
    elif case == "empty":
        np.save(path, np.zeros((0, 3), np.float32))
    elif case == "dim":
        np.save(path, np.zeros((4, 5), np.float32))
    elif case == "strings":
        np.save(path, np.array([["a", "b", "c"]]))
    elif case == "ambiguous_npz":
        path = tmp_path / "v_bad.npz"
        np.savez(path, a=FEATS, b=FEATS)
    elif case == "pt_not_tensor":
        path = tmp_path / "v_bad.pt"
        torch.save([1, 2, 3], path)
    elif case == "suffix":
        path = tmp_path / "v_bad.txt"
        path.write_text("1,2,3\n")
    messages = {"unreadable": "not a numpy array file", "1d": "2-D", "3d": "2-D", "empty": "no snippets", "dim": "feature dimension 5, expected 3",
                "strings": "must be numbers", "ambiguous_npz": "holds arrays", "pt_not_tensor": "expected a tensor", "suffix": "unknown feature format"}
    return path, messages[case]


@pytest.mark.parametrize("case", ["missing", "unreadable", "1d", "3d", "empty", "dim", "strings", "ambiguous_npz", "pt_not_tensor", "suffix"])
def test_bad_files_raise_naming_the_file_and_video(tmp_path, case):
    path, message = write_bad(tmp_path, case)
    with pytest.raises(InputError) as info:
        read_feature_file(path, expected_dim=3, video="bad")
    assert str(path) in str(info.value) and "video 'bad'" in str(info.value)
    assert message in str(info.value)


def test_non_finite_values_are_counted_and_located(tmp_path):
    bad = FEATS.copy()
    bad[1, 2] = np.nan
    bad[3, 0] = np.inf
    bad[3, 1] = -np.inf
    np.save(tmp_path / "x.npy", bad)
    with pytest.raises(InputError, match=r"3 non-finite values .* in 2 of 5 snippets; first at \[snippet, feature\] \[1, 2\], \[3, 0\]"):
        read_feature_file(tmp_path / "x.npy")


def test_float64_overflowing_float32_is_caught(tmp_path):
    big = FEATS.astype(np.float64)
    big[0, 0] = 1e300
    np.save(tmp_path / "x.npy", big)
    with pytest.raises(InputError, match="1 non-finite"):
        read_feature_file(tmp_path / "x.npy")


def test_transposed_file_gets_a_hint(tmp_path):
    np.save(tmp_path / "x.npy", FEATS.T.copy())  # (3, 5): F rows
    with pytest.raises(InputError, match="transposed"):
        read_feature_file(tmp_path / "x.npy", expected_dim=3)


def test_find_feature_file_tries_both_spellings(tmp_path):
    np.save(tmp_path / "v_abc.npy", FEATS)
    np.save(tmp_path / "video_test_1.npy", FEATS)
    assert find_feature_file(tmp_path, "abc") == tmp_path / "v_abc.npy"
    assert find_feature_file(tmp_path, "v_abc") == tmp_path / "v_abc.npy"
    assert find_feature_file(tmp_path, "video_test_1") == tmp_path / "video_test_1.npy"
    assert find_feature_file(tmp_path, "xyz") is None


def test_hdf5_without_h5py_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ImportError
    with pytest.raises(InputError, match=r"pip install seqattnet\[hdf5\]"):
        read_hdf5_features(tmp_path / "f.h5", "abc")


def test_hdf5_reads_a_dataset_per_video(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py is optional (pip install seqattnet[hdf5])")
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["v_abc"] = FEATS
        f.create_group("def")["feats"] = FEATS
    np.testing.assert_array_equal(read_hdf5_features(tmp_path / "f.h5", "abc", expected_dim=3), FEATS)
    np.testing.assert_array_equal(read_hdf5_features(tmp_path / "f.h5", "v_def"), FEATS)
    with pytest.raises(InputError, match="no dataset for this video"):
        read_hdf5_features(tmp_path / "f.h5", "ghi")


# --- time mapping -------------------------------------------------------------------------------


def test_snippet_times_follow_the_formula():
    # c_i = (i·stride + window/2) / fps; ActivityNet TSN: stride = window = 16 frames at 30 fps
    np.testing.assert_allclose(snippet_times_s(3, 16, 16, 30.0), [8 / 30, 24 / 30, 40 / 30])
    np.testing.assert_allclose(snippet_times_s(2, 4, 16, 30.0), [8 / 30, 12 / 30])  # THUMOS I3D-like


def test_num_snippets():
    assert num_snippets(10.0, 30.0, 16, 16) == 18  # floor((300 − 16) / 16) + 1
    assert num_snippets(16 / 30, 30.0, 16, 16) == 1
    assert num_snippets(0.1, 30.0, 16, 16) == 1


@given(
    t=st.floats(-10, 1e4, allow_nan=False),
    stride=st.sampled_from([1, 4, 8, 16, 32.5]),
    window=st.sampled_from([0, 1, 16, 64]),
    fps=st.sampled_from([24.0, 25.0, 29.97, 30.0, 60.0]),
)
def test_seconds_index_round_trip(t, stride, window, fps):
    i = seconds_to_index(t, stride, window, fps)
    assert index_to_seconds(i, stride, window, fps) == pytest.approx(t, abs=1e-9, rel=1e-12)


def test_index_seconds_round_trip_on_integers():
    i = np.arange(1000)
    np.testing.assert_allclose(seconds_to_index(index_to_seconds(i, 16, 16, 29.97), 16, 16, 29.97), i, atol=1e-9)


def test_seconds_to_cell():
    # cell t is [t/T, (t+1)/T) of the video
    assert seconds_to_cell(0.0, 50.0, 100) == 0
    assert seconds_to_cell(0.49, 50.0, 100) == 0
    assert seconds_to_cell(0.5, 50.0, 100) == 1
    assert seconds_to_cell(50.0, 50.0, 100) == 99  # the end belongs to the last cell
    np.testing.assert_array_equal(seconds_to_cell(np.array([-1.0, 25.0, 99.0]), 50.0, 100), [0, 50, 99])


# --- rescaling ----------------------------------------------------------------------------------


def reference_rescale(features, times, duration, T):
    """Slow, obvious reference: np.interp per feature at the cell centres."""
    tau = (np.arange(T) + 0.5) / T * duration
    return np.stack([np.interp(tau, times, features[:, f]) for f in range(features.shape[1])])


def test_rescale_reproduces_a_linear_ramp_at_cell_centres():
    duration, T = 60.0, 100
    times = snippet_times_s(num_snippets(duration, 30.0, 16, 16), 16, 16, 30.0)
    slopes, offsets = np.array([1.0, -0.5, 0.0]), np.array([0.0, 3.0, 7.0])
    ramp = offsets + slopes * times[:, None]  # (n, 3)
    grid = rescale_to_grid(ramp, times, duration, T)
    assert grid.shape == (3, T) and grid.dtype == np.float32
    tau = grid_centres_s(duration, T)
    inside = (tau >= times[0]) & (tau <= times[-1])
    np.testing.assert_allclose(grid[:, inside], (offsets + slopes * tau[inside, None]).T, rtol=1e-5, atol=1e-5)
    # outside the snippets' range: held at the first / last snippet
    np.testing.assert_allclose(grid[:, tau < times[0]], np.repeat(ramp[:1].T, (tau < times[0]).sum(), 1), atol=1e-6)
    np.testing.assert_allclose(grid[:, tau > times[-1]], np.repeat(ramp[-1:].T, (tau > times[-1]).sum(), 1), atol=1e-6)


@pytest.mark.parametrize("n, T", [(1, 10), (2, 100), (37, 100), (500, 100), (100, 100)])
def test_rescale_matches_the_slow_reference(n, T):
    rng = np.random.default_rng(n)
    features = rng.standard_normal((n, 6)).astype(np.float32)
    times = np.sort(rng.uniform(0, 90, n)) if n > 1 else np.array([40.0])
    times = np.unique(times) if n > 1 else times
    features = features[: len(times)]
    np.testing.assert_allclose(rescale_to_grid(features, times, 90.0, T), reference_rescale(features, times, 90.0, T), atol=1e-5)


def test_exact_t_csv_passes_through_unchanged(tmp_path):
    bmn = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    write_csv(tmp_path / "v_abc.csv", bmn)
    features = read_feature_file(tmp_path / "v_abc.csv", expected_dim=8)
    grid = rescale_to_grid(features, None, 123.4, 100, already_rescaled=True)
    np.testing.assert_array_equal(grid, bmn.T)
    with pytest.raises(ValueError, match="expected T = 50"):
        rescale_to_grid(features, None, 123.4, 50, already_rescaled=True)
