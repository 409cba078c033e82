"""pytest options for the kiln serve suites: --kiln PATH (default build/bin/kiln, or $KILN_BIN)."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_addoption(parser):
    parser.addoption("--kiln", default=os.environ.get("KILN_BIN") or os.path.join(REPO, "build", "bin", "kiln"),
                     help="path to the kiln CLI binary (default: build/bin/kiln)")


def pytest_configure(config):
    # serve_util's helpers (and the client suites run in child pytest processes) find the binary here.
    os.environ["KILN_BIN"] = os.path.abspath(config.getoption("--kiln"))


@pytest.fixture(scope="session")
def kiln_bin(request):
    path = os.path.abspath(request.config.getoption("--kiln"))
    if not os.path.isfile(path):
        pytest.fail(f"kiln binary not found at {path}; build it or pass --kiln PATH")
    return path
