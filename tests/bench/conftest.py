"""pytest options for the zoo benchmark's own tests: --kiln PATH (default build/bin/kiln)."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.path.join(REPO, "build", "bin", "kiln"),
                     help="path to the kiln CLI binary (default: build/bin/kiln)")


@pytest.fixture(scope="session")
def kiln_bin(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.path.isfile(path):
        pytest.fail(f"kiln binary not found at {path}; build it or pass --kiln PATH")
    return path
