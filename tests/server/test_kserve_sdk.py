"""Compatibility suite: the KServe Python SDK 0.21 clients (InferenceRESTClient with the v2 protocol,
InferenceGRPCClient) and its v2 data models against the real `kiln serve`: health, model readiness and metadata,
inference (JSON and binary, checked against numpy), and errors.

Process isolation: the kserve SDK's grpc_predict_v2 protos, tritonclient.grpc and tests/server's generated stubs all
define the protobuf package `inference` under different file names, which protobuf's default descriptor pool
refuses in one process. So in a pytest run over tests/server this module only defines test_suite_in_own_process,
which re-runs this file in a child pytest with KILN_CLIENT_SUITE set to this file's name.
Run one test directly:  KILN_CLIENT_SUITE=test_kserve_sdk.py pytest tests/server/test_kserve_sdk.py -k NAME
"""
import asyncio
import os

import numpy as np
import pytest

from serve_util import Server, add_model, run_suite_in_own_process

IN_OWN_PROCESS = os.environ.get("KILN_CLIENT_SUITE") == os.path.basename(__file__)
if IN_OWN_PROCESS:
    import grpc
    import httpx
    from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
    from kserve.protocol.rest.v2_datamodels import (ModelMetadataResponse, ServerLiveResponse,
                                                    ServerMetadataResponse, ServerReadyResponse)


def test_suite_in_own_process(kiln_bin):
    """Runs every test of this file in a child pytest (see the module docstring); fails with the child's failures."""
    run_suite_in_own_process(__file__, kiln_bin, timeout=300)


ADD_C = np.array([1.0, 2.0, 3.0, 4.0], np.float32)


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("kserve_sdk")
    add_model(str(repo))
    s = Server(kiln_bin, repo)
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def base_url(server):
    return f"http://127.0.0.1:{server.http_port}"


@pytest.fixture(scope="module")
def grpc_url(server):
    return f"127.0.0.1:{server.grpc_port}"


def rest(coro_fn):
    """Runs coro_fn(client) with a fresh v2 InferenceRESTClient on its own event loop."""
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
        try:
            return await coro_fn(client)
        finally:
            await client.close()
    return asyncio.run(run())


def grpc_call(url, coro_fn):
    """Runs coro_fn(client) with a fresh InferenceGRPCClient (no retries) on its own event loop."""
    async def run():
        async with InferenceGRPCClient(url, retries=0, timeout=30) as client:
            return await coro_fn(client)
    return asyncio.run(run())


def request(x, binary, model="add"):
    i = InferInput("x", list(x.shape), "FP32")
    i.set_data_from_numpy(x, binary_data=binary)
    return InferRequest(model_name=model, infer_inputs=[i], request_id="k-1")


def rows(n, seed):
    return np.random.RandomState(seed).uniform(-9, 9, (n, 4)).astype(np.float32)


def test_rest_server_live_ready(base_url):
    # Feature: JSON health bodies {"live": true} / {"ready": true}.
    assert rest(lambda c: c.is_server_live(base_url)) is True
    assert rest(lambda c: c.is_server_ready(base_url)) is True
    live = httpx.get(base_url + "/v2/health/live")
    ServerLiveResponse.model_validate_json(live.content)
    ServerReadyResponse.model_validate_json(httpx.get(base_url + "/v2/health/ready").content)


def test_rest_model_ready_and_metadata(base_url):
    assert rest(lambda c: c.is_model_ready(base_url, "add")) is True
    assert rest(lambda c: c.is_model_ready(base_url, "no_such_model")) is False
    md = ModelMetadataResponse.model_validate_json(httpx.get(base_url + "/v2/models/add").content)
    assert md.name == "add" and md.versions == ["1"]
    assert [(t.name, t.datatype, t.shape) for t in md.inputs] == [("x", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, t.shape) for t in md.outputs] == [("y", "FP32", [-1, 4])]
    smd = ServerMetadataResponse.model_validate_json(httpx.get(base_url + "/v2").content)
    assert smd.name == "kiln" and smd.version and smd.extensions


@pytest.mark.parametrize("binary", [False, True])
def test_rest_infer(base_url, binary):
    x = rows(5, 1 + binary)
    resp = rest(lambda c: c.infer(base_url, request(x, binary), model_name="add"))
    assert resp.model_name == "add" and resp.id == "k-1"
    out = resp.outputs[0]
    assert out.name == "y" and out.datatype == "FP32" and list(out.shape) == [5, 4]
    np.testing.assert_array_equal(out.as_numpy(), x + ADD_C)


def test_rest_errors(base_url):
    x = rows(2, 3)
    with pytest.raises(httpx.HTTPStatusError) as ei:
        rest(lambda c: c.infer(base_url, request(x, False, "no_such_model"), model_name="no_such_model"))
    assert ei.value.response.status_code == 404 and "no_such_model" in str(ei.value)
    bad = InferInput("x", [2, 5], "FP32")
    bad.set_data_from_numpy(np.zeros((2, 5), np.float32), binary_data=False)
    with pytest.raises(httpx.HTTPStatusError) as ei:
        rest(lambda c: c.infer(base_url, InferRequest("add", [bad]), model_name="add"))
    assert ei.value.response.status_code == 400 and ei.value.response.json()["error"]


def test_grpc_health_and_model_ready(grpc_url):
    assert grpc_call(grpc_url, lambda c: c.is_server_live()) is True
    assert grpc_call(grpc_url, lambda c: c.is_server_ready()) is True
    assert grpc_call(grpc_url, lambda c: c.is_model_ready("add")) is True
    assert grpc_call(grpc_url, lambda c: c.is_model_ready("no_such_model")) is False


def test_grpc_metadata_with_sdk_stub(grpc_url):
    """Model and server metadata through the SDK's own generated GRPCInferenceServiceStub."""
    async def run():
        async with grpc.aio.insecure_channel(grpc_url) as ch:
            stub = GRPCInferenceServiceStub(ch)
            md = await stub.ModelMetadata(pb.ModelMetadataRequest(name="add"), timeout=30)
            smd = await stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=30)
            return md, smd
    md, smd = asyncio.run(run())
    assert md.name == "add" and list(md.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == [("x", "FP32", [-1, 4])]
    assert smd.name == "kiln" and "binary_tensor_data" in smd.extensions


@pytest.mark.parametrize("binary", [True, False])
def test_grpc_infer(grpc_url, binary):
    x = rows(6, 10 + binary)
    resp = grpc_call(grpc_url, lambda c: c.infer(request(x, binary)))
    assert resp.model_name == "add" and resp.id == "k-1"
    out = resp.outputs[0]
    assert out.name == "y" and out.datatype == "FP32" and list(out.shape) == [6, 4]
    np.testing.assert_array_equal(out.as_numpy(), x + ADD_C)


def test_grpc_errors(grpc_url):
    x = rows(2, 20)
    with pytest.raises(grpc.aio.AioRpcError) as ei:
        grpc_call(grpc_url, lambda c: c.infer(request(x, True, "no_such_model")))
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND and "no_such_model" in ei.value.details()
    bad = InferInput("x", [2, 5], "FP32")
    bad.set_data_from_numpy(np.zeros((2, 5), np.float32))
    with pytest.raises(grpc.aio.AioRpcError) as ei:
        grpc_call(grpc_url, lambda c: c.infer(InferRequest("add", [bad])))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT and ei.value.details()


# The parent run collects only test_suite_in_own_process, the child run every other test.
for _name in [n for n in globals() if n.startswith("test_") and (n == "test_suite_in_own_process") == IN_OWN_PROCESS]:
    del globals()[_name]
