"""pytest options for the deployment tests: --kiln PATH (default build/bin/kiln); the image is built from its tree."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.path.join(REPO, "build", "bin", "kiln"),
                     help="path to the kiln CLI binary of the build tree to pack (default: build/bin/kiln)")


@pytest.fixture(scope="session")
def kiln_bin(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.path.isfile(path):
        pytest.fail(f"kiln binary not found at {path}; build it or pass --kiln PATH")
    return path
