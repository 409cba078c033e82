"""The OpenMP wait policy `import kiln` chooses (python/kiln/__init__.py, docs/python.md): KILN_OMP_WAIT forces a brief
spin (GOMP_SPINCOUNT) or sleeping workers (OMP_WAIT_POLICY=PASSIVE); a policy already in the environment is kept;
otherwise one of the two is set from the machine's load."""
import os
import subprocess
import sys

import kiln  # noqa: F401  (the package under test: its directory goes on the child's path)

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(kiln.__file__)))
POLICY_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KILN_OMP_WAIT", "KILN_NUM_THREADS")


def policy_after_import(**env_extra):
    env = {k: v for k, v in os.environ.items() if k not in POLICY_KEYS}
    env.update(env_extra)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import os, kiln; print(os.environ.get('OMP_WAIT_POLICY', '-'), os.environ.get('GOMP_SPINCOUNT', '-'))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return tuple(r.stdout.split())


def test_forced_spin_and_passive():
    assert policy_after_import(KILN_OMP_WAIT="spin") == ("-", "10000")
    assert policy_after_import(KILN_OMP_WAIT="passive") == ("PASSIVE", "-")


def test_the_users_policy_is_kept():
    assert policy_after_import(OMP_WAIT_POLICY="active", KILN_OMP_WAIT="passive") == ("active", "-")
    assert policy_after_import(GOMP_SPINCOUNT="0", KILN_OMP_WAIT="spin") == ("-", "0")


def test_a_policy_is_chosen_by_default():
    assert policy_after_import() in {("-", "10000"), ("PASSIVE", "-")}
