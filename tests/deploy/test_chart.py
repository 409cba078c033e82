"""The Helm chart (deploy/helm/kiln) and the KServe runtime (deploy/kserve), without a cluster: Helm's own engine
(PyPI helm-python-sdk, Helm v4's Go SDK through ctypes; helm itself is not packaged in Debian bookworm) lints and
renders the chart for several value sets; yamllint checks every rendered manifest; kubernetes-validate checks every
built-in kind against the Kubernetes OpenAPI schemas (1.30 and 1.37, strict: unknown fields fail). Kinds from CRDs
(ServiceMonitor, ClusterServingRuntime, InferenceService) have no schema there and get field checks here. Every
kiln flag the manifests pass must be a flag of `kiln serve`."""
import os
import re
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(REPO, "deploy", "helm", "kiln")
KSERVE = os.path.join(REPO, "deploy", "kserve")
YAMLLINT = os.path.join(REPO, "deploy", "yamllint.yaml")
K8S_VERSIONS = ["1.30.0", "1.37.0"]
CRD_KINDS = {"ServiceMonitor", "ClusterServingRuntime", "InferenceService"}

VALUE_SETS = {
    "default": {},
    "gpu_monitor_cpu_hpa": {"variant": "gpu", "gpu": {"count": 2}, "metrics": {"serviceMonitor": {"enabled": True}},
                            "autoscaling": {"cpuUtilization": 70}, "server": {"threads": 4, "extraArgs": ["--log-verbose=1"]}},
    "fixed_replicas_hostpath": {"autoscaling": {"enabled": False}, "podDisruptionBudget": {"enabled": False},
                                "modelRepository": {"type": "hostPath"}, "metrics": {"annotations": False},
                                "server": {"preStopSleepSeconds": 0}},
}


@pytest.fixture(scope="module")
def chart():
    helm = pytest.importorskip("helm_python", reason="helm-python-sdk missing (scripts/setup.sh installs it)")
    return helm, helm.Chart.load(CHART)


@pytest.fixture(scope="module")
def serve_flags(kiln_bin):
    text = subprocess.run([kiln_bin, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]+)", text))


def render(chart, values):
    helm, c = chart
    out = c.render(values=values, name="demo", namespace="serving")
    docs = []
    for path, text in out.items():
        if not text.strip() or path.endswith("NOTES.txt"):
            continue
        lint(text, path)
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def lint(text, what):
    r = subprocess.run(["yamllint", "-c", YAMLLINT, "-"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, f"yamllint {what}:\n{r.stdout}"


def validate(doc):
    import kubernetes_validate as kv
    for v in K8S_VERSIONS:
        try:
            kv.validate(doc, v, strict=True)
        except kv.ValidationError as e:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']} invalid for Kubernetes {v}: {e.message}")


def kiln_args_ok(args, flags):
    for a in args:
        if a.startswith("--"):
            assert a.split("=", 1)[0] in flags, f"kiln serve has no flag {a}"


def test_chart_lints(chart):
    helm, _ = chart
    helm.lint(CHART, strict=True, quiet=True)
    for f in ("values.yaml", "Chart.yaml"):
        lint(open(os.path.join(CHART, f)).read(), f)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_chart_renders_valid_manifests(chart, serve_flags, name):
    docs = render(chart, VALUE_SETS[name])
    kinds = {d["kind"]: d for d in docs}
    for d in docs:
        if d["kind"] not in CRD_KINDS:
            validate(d)
    dep = kinds["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    kiln_args_ok(c["args"], serve_flags)
    assert c["args"][0] == "serve" and "--model-repository=/models" in c["args"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    exit_timeout = int(next(a for a in c["args"] if a.startswith("--exit-timeout-secs=")).split("=")[1])
    assert pod["terminationGracePeriodSeconds"] > exit_timeout
    gpus = c["resources"].get("limits", {}).get("nvidia.com/gpu")
    if name.startswith("gpu"):
        assert gpus == 2 and c["image"].endswith("-cuda13")
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        assert kinds["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "metrics"
        hpa = kinds["HorizontalPodAutoscaler"]["spec"]["metrics"]
        assert [m["type"] for m in hpa] == ["Pods", "Resource"]
    else:
        assert gpus is None and c["image"].endswith("-cpu")
    if name == "default":
        assert kinds["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]["metric"]["name"].startswith("kiln_")
        assert "replicas" not in dep["spec"] and kinds["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
        assert pod["volumes"][0]["persistentVolumeClaim"]["readOnly"] is True
        assert dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    if name == "fixed_replicas_hostpath":
        assert "HorizontalPodAutoscaler" not in kinds and "PodDisruptionBudget" not in kinds
        assert dep["spec"]["replicas"] == 2 and "hostPath" in pod["volumes"][0]
        assert "lifecycle" not in c


@pytest.mark.parametrize("values,message", [
    ({"variant": "tpu"}, "variant must be cpu or gpu"),
    ({"modelRepository": {"type": "nfs"}}, "modelRepository.type must be pvc, hostPath or emptyDir"),
    ({"modelRepository": {"existingClaim": ""}}, "modelRepository.existingClaim is required"),
])
def test_chart_rejects_bad_values(chart, values, message):
    helm, c = chart
    with pytest.raises(Exception) as e:
        c.render(values=values, name="demo")
    assert message in str(e.value)


def test_kserve_runtime(serve_flags):
    for f in sorted(os.listdir(KSERVE)):
        lint(open(os.path.join(KSERVE, f)).read(), f)
    rt = yaml.safe_load(open(os.path.join(KSERVE, "cluster-serving-runtime.yaml")))
    assert rt["apiVersion"] == "serving.kserve.io/v1alpha1" and rt["kind"] == "ClusterServingRuntime"
    spec = rt["spec"]
    assert {"name": "onnx", "version": "1", "autoSelect": True, "priority": 2} in spec["supportedModelFormats"]
    assert "v2" in spec["protocolVersions"]
    c = spec["containers"][0]
    assert c["name"] == "kserve-container" and c["args"][0] == "serve"
    kiln_args_ok(c["args"], serve_flags)
    assert "--model-repository=/mnt/models" in c["args"]  # where KServe's storage initializer puts the model
    http_port = next(a for a in c["args"] if a.startswith("--http-port=")).split("=")[1]
    assert str(c["ports"][0]["containerPort"]) == http_port
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["securityContext"]["runAsUser"] == 10001 and c["securityContext"]["readOnlyRootFilesystem"]
    # The container itself is a core/v1 Container: validate it inside a Pod against the Kubernetes schema.
    validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kiln-runtime"}, "spec": {"containers": [c]}})
    isvc = yaml.safe_load(open(os.path.join(KSERVE, "inference-service-example.yaml")))
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == rt["metadata"]["name"] and model["modelFormat"]["name"] == "onnx"
