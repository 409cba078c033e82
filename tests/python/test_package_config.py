"""The pip package's configuration is valid without compiling: pyproject pins agree with scripts/setup.sh,
scikit-build-core writes the wheel metadata, and CMake configures the wheel build (SKBUILD, module target only)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY_DIR = os.path.join(ROOT, "python")


def _pyproject():
    import tomllib
    with open(os.path.join(PY_DIR, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_build_requirements_match_setup_pins():
    requires = _pyproject()["build-system"]["requires"]
    with open(os.path.join(ROOT, "scripts", "setup.sh")) as f:
        setup = f.read()
    for req in requires:
        assert req in setup, f"{req} (python/pyproject.toml) is not pinned the same in scripts/setup.sh"


def test_package_files_present():
    for f in ("__init__.py", "_kiln.pyi", "py.typed"):
        assert os.path.exists(os.path.join(PY_DIR, "kiln", f)), f


def test_wheel_metadata(tmp_path):
    code = ("import os, sys; os.chdir(sys.argv[1]); from scikit_build_core.build import "
            "prepare_metadata_for_build_wheel as p; print(p(sys.argv[2]))")
    r = subprocess.run([sys.executable, "-c", code, PY_DIR, str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    dist_info = tmp_path / r.stdout.strip().splitlines()[-1]
    meta = (dist_info / "METADATA").read_text()
    assert re.search(r"^Name: kiln$", meta, re.M) and re.search(r"^Version: 0\.1\.0$", meta, re.M)
    assert "Requires-Dist: numpy" in meta


def test_wheel_cmake_configure(tmp_path):
    """The configure step `pip install ./python` runs (no compile): KILN_PYTHON on, tests off, SKBUILD installs."""
    cmake = shutil.which("cmake")
    if not cmake:
        pytest.fail("cmake not found")
    defines = _pyproject()["tool"]["scikit-build"]["cmake"]["define"]
    args = [cmake, "-S", ROOT, "-B", str(tmp_path / "b"), "-G", "Ninja", "-DSKBUILD=2",
            f"-DPython_EXECUTABLE={sys.executable}", f"-DPython3_EXECUTABLE={sys.executable}",
            "-DKILN_ENABLE_CUDA=OFF",  # the CUDA checks are the main build's; they would double the time
            "-DCMAKE_INSTALL_PREFIX=" + str(tmp_path / "wheel")] + [f"-D{k}={v}" for k, v in defines.items()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Kiln Python module: ON" in r.stdout
    targets = subprocess.run([shutil.which("ninja"), "-C", str(tmp_path / "b"), "-t", "targets", "all"],
                             capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"^_kiln\b", targets, re.M), "no _kiln target"
    assert not re.search(r"^kiln_tests:", targets, re.M), "the wheel build must not build the test suite"


def test_module_exports_only_its_entry_point():
    """libkiln, protobuf and nanobind stay private: other extensions in the process cannot bind to them."""
    from kiln import _kiln
    nm = shutil.which("nm")
    if not nm:
        pytest.fail("nm (binutils) not found")
    out = subprocess.run([nm, "-D", "--defined-only", _kiln.__file__], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    symbols = sorted(line.split()[-1] for line in out.stdout.splitlines() if line.strip())
    assert symbols == ["PyInit__kiln"], symbols[:20]
