"""Fixtures for the Python package's tests: the built `kiln` package, the kiln CLI, the bundled models, ORT feeds.

The package under test is the one the main build puts in <build>/python (ctest passes --kiln-python); pass the
directory of an installed package's parent, or nothing to import `kiln` from the environment (pip install ./python).
"""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.path.join(ROOT, "build", "bin", "kiln"), help="path to the kiln CLI")
    parser.addoption("--kiln-python", default=None,
                     help="directory holding the built kiln package (default: import kiln from sys.path)")


def pytest_configure(config):
    path = config.getoption("--kiln-python")
    if path:
        sys.path.insert(0, os.path.abspath(path))


@pytest.fixture(scope="session")
def kiln_cli(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"kiln CLI not found: {path} (build it, or pass --kiln)")
    return path


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory):
    import make_models
    return make_models.write_all(str(tmp_path_factory.mktemp("models")))


def make_feeds(session, rng, sizes):
    """Random feeds for an ORT session's inputs; symbolic dims take their value from `sizes` (default 2)."""
    feeds = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else sizes.get(d, 2) for d in inp.shape]
        if inp.type == "tensor(float)":
            feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
        elif inp.type == "tensor(int64)":
            feeds[inp.name] = rng.integers(0, 10, shape, dtype=np.int64)
        else:
            raise AssertionError(f"no feed rule for {inp.name}: {inp.type}")
    return feeds


def assert_outputs_match(got, want_names, want_values, rtol=1e-4, atol=1e-5):
    assert list(got) == list(want_names), "output names/order differ from ONNX Runtime's"
    for name, w in zip(want_names, want_values):
        g = got[name]
        assert isinstance(g, np.ndarray), f"{name}: {type(g)}"
        assert g.shape == w.shape and g.dtype == w.dtype, f"{name}: {g.dtype}{g.shape} vs ORT {w.dtype}{w.shape}"
        if np.issubdtype(w.dtype, np.floating):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)
