"""Fixtures for the INT8 calibration tests: the kiln CLI path and the bundled test models."""
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.path.join(ROOT, "build", "bin", "kiln"),
                     help="path to the kiln CLI (default: build/bin/kiln in the repository)")


@pytest.fixture(scope="session")
def kiln(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"kiln CLI not found or not executable: {path} (build it, or pass --kiln)")
    return path


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory):
    """small_cnn and transformer_block (models/make_models.py), written once per session."""
    import make_models
    import onnx
    out = str(tmp_path_factory.mktemp("models"))
    paths = {}
    for name in ("small_cnn", "transformer_block"):
        paths[name] = os.path.join(out, name + ".onnx")
        onnx.save(make_models.MODELS[name](), paths[name])
    return paths
