"""The serving image end to end (issue 17): builds kiln:<version>-<variant> from this build tree
(deploy/docker/build.sh --from-host-build), builds an engine with the image's calibrate entry, serves it with
--read-only --cap-drop ALL --security-opt no-new-privileges, infers over HTTP and gRPC from inside the container's
network namespace (nsenter; the container has only lo), checks uid 10001, capabilities, the HEALTHCHECK, /metrics,
that nothing but the kiln binary and its libraries is in the image, and that SIGTERM drains. Skips (with the reason)
where docker cannot run: not root, no dockerd, or the daemon does not start."""
import json
import os
import shutil
import subprocess
import tarfile
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy", "docker")
CLIENT = os.path.join(REPO, "tests", "deploy", "netns_client.py")
DOCKER = "/usr/bin/docker"
MODEL = "small_cnn"


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def docker_env():
    if os.geteuid() != 0:
        pytest.skip("container test skipped: needs root to run dockerd")
    if not (os.path.exists("/usr/sbin/dockerd") and os.path.exists(DOCKER) and shutil.which("nsenter")):
        pytest.skip("container test skipped: docker.io or nsenter missing (scripts/setup.sh installs them)")
    r = sh("bash", os.path.join(DEPLOY, "dockerd.sh"), "start", check=False)
    if r.returncode != 0:
        pytest.skip(f"container test skipped: dockerd did not start: {r.stderr.strip()}")
    env = dict(os.environ)
    for part in r.stdout.replace("export ", "").split():
        k, v = part.split("=", 1)
        env[k] = v
    yield env
    if env.get("KILN_DOCKERD_STARTED") == "1":  # leave the machine as found
        sh("bash", os.path.join(DEPLOY, "dockerd.sh"), "stop", check=False)


@pytest.fixture(scope="module")
def image(docker_env, kiln_bin):
    build_dir = os.path.dirname(os.path.dirname(kiln_bin))
    t0 = time.time()
    r = sh("bash", os.path.join(DEPLOY, "build.sh"), "--from-host-build", build_dir, env=docker_env, check=False)
    assert r.returncode == 0, f"image build failed:\n{r.stdout}\n{r.stderr}"
    line = [l for l in r.stdout.splitlines() if l.startswith("build.sh: kiln:")][-1]
    print(f"\n{line} (test measured {time.time() - t0:.1f} s)")
    return line.split()[1]


def docker(env, *args, check=True):
    return sh(DOCKER, *args, env=env, check=check)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A model repository with the bundled small CNN, its input and ONNX Runtime's output for it."""
    import onnxruntime as ort
    d = tmp_path_factory.mktemp("deploy")
    sh("python3", os.path.join(REPO, "models", "make_models.py"), str(d / "onnx"))
    vdir = d / "models" / MODEL / "1"
    vdir.mkdir(parents=True)
    shutil.copy(d / "onnx" / f"{MODEL}.onnx", vdir / "model.onnx")
    x = np.random.default_rng(7).standard_normal((2, 3, 32, 32), dtype=np.float32)
    np.save(d / "x.npy", x)
    sess = ort.InferenceSession(str(vdir / "model.onnx"), providers=["CPUExecutionProvider"])
    np.save(d / "want.npy", sess.run(["logits"], {"image": x})[0])
    os.chmod(d, 0o755)
    sh("chmod", "-R", "a+rwX", str(d / "models"))   # uid 10001 writes the engine during calibrate
    return d


HARDENED = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


def test_image_has_no_shell_compiler_or_package_manager(docker_env, image):
    cid = docker(docker_env, "create", image).stdout.strip()
    try:
        export = subprocess.run([DOCKER, "export", cid], env=docker_env, check=True, capture_output=True).stdout
    finally:
        docker(docker_env, "rm", cid)
    import io
    members = tarfile.open(fileobj=io.BytesIO(export)).getmembers()
    base = {os.path.basename(m.name) for m in members}
    for forbidden in ("sh", "bash", "dash", "gcc", "cc", "g++", "pip", "pip3", "python3", "apt", "apt-get", "dpkg"):
        assert forbidden not in base, f"the runtime image contains {forbidden}"
    files = [m.name for m in members if m.isfile()]
    libs = [n for n in files if ".so" in os.path.basename(n)]
    others = sorted(set(files) - set(libs))
    # Docker adds /etc/hosts, hostname, resolv.conf mount points and /.dockerenv on create.
    allowed = {"usr/local/bin/kiln", "etc/passwd", "etc/group", "usr/share/kiln/libraries.txt",
               "usr/share/kiln/cuda-wheels.txt", "etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv",
               "dev/console"}
    assert {n.removeprefix("./") for n in others} <= allowed, f"unexpected files in the image: {others}"
    print(f"image files: {len(files)} ({len(libs)} shared libraries)")


def test_calibrate_entry_builds_engine_into_repository(docker_env, image, repo):
    r = docker(docker_env, "run", "--rm", *HARDENED, "--network", "none", "-v", f"{repo / 'models'}:/models",
               image, "calibrate", "--model", MODEL, "--precision", "fp32", check=False)
    assert r.returncode == 0, r.stderr
    assert (repo / "models" / MODEL / "1" / "model.kiln").is_file()
    assert "Built /models/small_cnn/1/model.kiln" in r.stdout
    again = docker(docker_env, "run", "--rm", *HARDENED, "-v", f"{repo / 'models'}:/models", image, "calibrate",
                   "--model", MODEL, "--precision", "fp32")
    assert "up to date" in again.stdout
    bad = docker(docker_env, "run", "--rm", *HARDENED, "-v", f"{repo / 'models'}:/models", image, "calibrate",
                 "--model", "no_such_model", check=False)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "no_such_model" in bad.stderr


def test_serve_hardened_infer_metrics_and_drain(docker_env, image, repo):
    name = f"kiln-deploy-test-{os.getpid()}"
    # The repository is read-only: serve loads the engine calibrate wrote (test above) instead of compiling.
    docker(docker_env, "run", "-d", "--name", name, *HARDENED, "--health-interval", "1s", "--health-start-period",
           "20s", "-v", f"{repo / 'models'}:/models:ro", image, "serve", "--model-repository", "/models",
           "--shared-memory", "none", "--exit-timeout-secs", "20")
    try:
        state = {}
        for _ in range(120):
            state = json.loads(docker(docker_env, "inspect", "-f", "{{json .State}}", name).stdout)
            if not state["Running"] or state.get("Health", {}).get("Status") == "healthy":
                break
            time.sleep(0.5)
        logs = docker(docker_env, "logs", name).stderr
        assert state["Running"], f"container exited: {logs}"
        assert state["Health"]["Status"] == "healthy", f"HEALTHCHECK never passed: {state['Health']}"
        pid = state["Pid"]
        status = open(f"/proc/{pid}/status").read()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert fields["Uid"].split() == ["10001"] * 4 and fields["Gid"].split() == ["10001"] * 4
        assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
        assert fields["NoNewPrivs"].strip() == "1"
        assert docker(docker_env, "inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", name).stdout.strip() == "true"
        assert "model.kiln" in logs or "loaded" in logs or "model ready" in logs
        for line in logs.strip().splitlines():  # every log line is one JSON object
            json.loads(line)

        nsenter = ["nsenter", "-t", str(pid), "-n", "python3", CLIENT]
        r = subprocess.run(nsenter + ["infer", MODEL, str(repo / "x.npy"), str(repo / "want.npy")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert "http infer ok" in r.stdout and "grpc infer ok" in r.stdout
        metrics = r.stdout
        assert f'kiln_inference_request_success{{model="{MODEL}",version="1"}} 2' in metrics, metrics[-3000:]
        assert "kiln_inference_queue_duration_us" in metrics

        # SIGTERM under load: requests in flight are answered, later ones refused, exit code 0, within the timeout.
        load = subprocess.Popen(nsenter + ["load", MODEL, str(repo / "x.npy"), "60"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert load.stdout.readline().strip() == "load started"
        time.sleep(0.5)
        t0 = time.time()
        docker(docker_env, "kill", "--signal", "TERM", name)
        out, err = load.communicate(timeout=60)
        counts = json.loads(out.strip().splitlines()[-1])
        code = docker(docker_env, "wait", name).stdout.strip()
        drain_s = time.time() - t0
        logs = docker(docker_env, "logs", name).stderr
        print(f"drain: {counts}, exit {code}, {drain_s:.2f} s after SIGTERM")
        assert code == "0", logs[-2000:]
        assert '"msg":"signal received: draining"' in logs and '"msg":"stopped"' in logs
        assert "still pending" not in logs and "cancelling" not in logs
        assert counts["ok"] > 0 and counts["refused"] > 0, counts
        assert set(counts) <= {"ok", "refused", "broken"}, counts
        assert counts["broken"] <= 4, counts   # at most the one accept race per client thread
        assert drain_s < 20
    finally:
        docker(docker_env, "rm", "-f", name, check=False)
