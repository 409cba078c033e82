# pytest options for the ONNX-file pass tests in tests/passes (the C++ pass tests there are GoogleTest).
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.path.join(ROOT, "build", "bin", "kiln"),
                     help="path to the kiln CLI (default: build/bin/kiln in the repository)")


@pytest.fixture(scope="session")
def kiln(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"kiln CLI not found or not executable: {path} (build it, or pass --kiln)")
    return path
