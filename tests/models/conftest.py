import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.path.join(ROOT, "build", "bin", "kiln"),
                     help="path to the kiln CLI (default: build/bin/kiln in the repository)")
    parser.addoption("--kiln-device", default="cpu", choices=["cpu", "cuda"],
                     help="device the engines are built for (cuda: run on a GPU machine)")


@pytest.fixture(scope="session")
def kiln_device(request):
    return request.config.getoption("--kiln-device")


@pytest.fixture(scope="session")
def kiln(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"kiln CLI not found or not executable: {path} (build it, or pass --kiln)")
    return path


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory):
    import make_models
    return make_models.write_all(str(tmp_path_factory.mktemp("models")))
