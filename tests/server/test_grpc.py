"""kiln serve's KServe v2 gRPC front end, exercised with Python grpcio stubs generated from our proto."""
import grpc
import numpy as np
import pytest

from test_grpc_support import ODD_INPUT, Server, grpc_stubs, kiln_binary, make_repository, raw_f32


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return grpc_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    repo = make_repository(str(tmp_path_factory.mktemp("repo")))
    s = Server(kiln_binary(request.config), repo)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def stub(server, pb):
    _, pbg = pb
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                    options=[("grpc.max_send_message_length", 128 << 20)])
    yield pbg.GRPCInferenceServiceStub(channel)
    channel.close()


def infer_request(pb_mod, x, model="add_one", name="INPUT0", raw=True):
    req = pb_mod.ModelInferRequest(model_name=model, id="req-1")
    t = req.inputs.add(name=name, datatype="FP32", shape=list(x.shape))
    if raw:
        req.raw_input_contents.append(raw_f32(x))
    else:
        t.contents.fp32_contents.extend(x.reshape(-1).tolist())
    return req


def output_array(resp, i=0):
    return np.frombuffer(resp.raw_output_contents[i], dtype=np.float32).reshape(list(resp.outputs[i].shape))


def code_of(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details()


def test_health(stub, pb):
    p, _ = pb
    assert stub.ServerLive(p.ServerLiveRequest()).live
    assert stub.ServerReady(p.ServerReadyRequest()).ready
    assert stub.ModelReady(p.ModelReadyRequest(name="add_one")).ready
    assert stub.ModelReady(p.ModelReadyRequest(name="add_one", version="1")).ready
    assert not stub.ModelReady(p.ModelReadyRequest(name="no_such_model")).ready


def test_server_metadata(stub, pb):
    p, _ = pb
    md = stub.ServerMetadata(p.ServerMetadataRequest())
    assert md.name == "kiln"
    assert md.version


def test_model_metadata(stub, pb):
    p, _ = pb
    md = stub.ModelMetadata(p.ModelMetadataRequest(name="add_one"))
    assert md.name == "add_one"
    assert "1" in md.versions
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == [("INPUT0", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, list(t.shape)) for t in md.outputs] == [("OUTPUT0", "FP32", [-1, 4])]
    odd = stub.ModelMetadata(p.ModelMetadataRequest(name="odd_names"))
    assert [t.name for t in odd.inputs] == [ODD_INPUT]
    code, _ = code_of(lambda: stub.ModelMetadata(p.ModelMetadataRequest(name="no_such_model")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_model_config(stub, pb):
    p, _ = pb
    cfg = stub.ModelConfig(p.ModelConfigRequest(name="add_one")).config
    assert cfg.name == "add_one"
    assert cfg.max_batch_size == 8
    assert [i.name for i in cfg.input] == ["INPUT0"]
    assert cfg.input[0].data_type == p.TYPE_FP32
    assert list(cfg.input[0].dims) == [4]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 200
    code, _ = code_of(lambda: stub.ModelConfig(p.ModelConfigRequest(name="no_such_model")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_infer_raw_contents(stub, pb):
    p, _ = pb
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    resp = stub.ModelInfer(infer_request(p, x))
    assert resp.model_name == "add_one"
    assert resp.id == "req-1"
    assert [o.name for o in resp.outputs] == ["OUTPUT0"]
    assert resp.outputs[0].datatype == "FP32"
    np.testing.assert_array_equal(output_array(resp), x + 1)


def test_infer_typed_contents(stub, pb):
    p, _ = pb
    x = np.array([[0.5, -1.0, 2.0, 7.25]], dtype=np.float32)
    resp = stub.ModelInfer(infer_request(p, x, raw=False))
    np.testing.assert_array_equal(output_array(resp), x + 1)


def test_infer_odd_input_name_and_requested_output(stub, pb):
    p, _ = pb
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    req = infer_request(p, x, model="odd_names", name=ODD_INPUT)
    req.outputs.add(name="out:0")
    resp = stub.ModelInfer(req)
    assert [o.name for o in resp.outputs] == ["out:0"]
    np.testing.assert_array_equal(output_array(resp), x * 2)


def test_infer_many_concurrent(stub, pb):
    """Concurrent calls (batched by the server) each get their own correct answer."""
    p, _ = pb
    futures = []
    for i in range(64):
        x = np.full((1, 4), float(i), dtype=np.float32)
        futures.append((x, stub.ModelInfer.future(infer_request(p, x))))
    for x, f in futures:
        np.testing.assert_array_equal(output_array(f.result(timeout=60)), x + 1)


@pytest.mark.parametrize("case", ["dtype", "shape", "raw_count", "typed_count", "typed_fp16", "mixed", "batch"])
def test_infer_invalid_argument(stub, pb, case):
    p, _ = pb
    x = np.ones((1, 4), dtype=np.float32)
    req = infer_request(p, x)
    if case == "dtype":
        req.inputs[0].datatype = "INT32"
    elif case == "shape":
        req.inputs[0].shape[:] = [1, 5]
    elif case == "raw_count":
        req.raw_input_contents.append(b"\0" * 16)
    elif case == "typed_count":
        req = infer_request(p, x, raw=False)
        req.inputs[0].contents.fp32_contents.append(1.0)
    elif case == "typed_fp16":
        req = p.ModelInferRequest(model_name="add_one")
        req.inputs.add(name="INPUT0", datatype="FP16", shape=[1, 4])
    elif case == "mixed":
        req.inputs[0].contents.fp32_contents.extend([1, 2, 3, 4])
    elif case == "batch":
        req = infer_request(p, np.ones((9, 4), dtype=np.float32))  # over max_batch_size 8
    code, details = code_of(lambda: stub.ModelInfer(req))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details


def test_infer_not_found(stub, pb):
    p, _ = pb
    x = np.ones((1, 4), dtype=np.float32)
    code, details = code_of(lambda: stub.ModelInfer(infer_request(p, x, model="no_such_model")))
    assert code == grpc.StatusCode.NOT_FOUND and "no_such_model" in details
    req = infer_request(p, x)
    req.model_version = "7"
    code, _ = code_of(lambda: stub.ModelInfer(req))
    assert code == grpc.StatusCode.NOT_FOUND
    req = infer_request(p, x)
    req.outputs.add(name="NO_SUCH_OUTPUT")
    code, _ = code_of(lambda: stub.ModelInfer(req))
    assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def test_message_over_limit_is_resource_exhausted(stub, pb):
    p, _ = pb
    req = p.ModelInferRequest(model_name="add_one")
    req.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 4])
    req.raw_input_contents.append(b"\0" * (65 << 20))  # over the default 64 MiB message limit
    code, _ = code_of(lambda: stub.ModelInfer(req))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The server is still healthy afterwards.
    assert stub.ServerLive(p.ServerLiveRequest()).live


def test_statistics_count_inferences(stub, pb):
    p, _ = pb

    def stats():
        r = stub.ModelStatistics(p.ModelStatisticsRequest(name="add_one"))
        assert len(r.model_stats) >= 1 and r.model_stats[0].name == "add_one"
        return r.model_stats[0]

    before = stats()
    for _ in range(5):
        stub.ModelInfer(infer_request(p, np.ones((2, 4), dtype=np.float32)))
    after = stats()
    assert after.inference_stats.success.count - before.inference_stats.success.count == 5
    assert after.inference_count - before.inference_count == 10  # batch items
    assert after.execution_count > before.execution_count
    assert after.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns
    every = stub.ModelStatistics(p.ModelStatisticsRequest())
    assert {m.name for m in every.model_stats} >= {"add_one", "odd_names"}
    code, _ = code_of(lambda: stub.ModelStatistics(p.ModelStatisticsRequest(name="no_such_model")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_repository_index_and_control_unavailable_in_mode_none(stub, pb):
    p, _ = pb
    index = stub.RepositoryIndex(p.RepositoryIndexRequest())
    states = {m.name: m.state for m in index.models}
    assert states.get("add_one") == "READY" and states.get("odd_names") == "READY"
    code, _ = code_of(lambda: stub.RepositoryModelUnload(p.RepositoryModelUnloadRequest(model_name="add_one")))
    assert code == grpc.StatusCode.UNAVAILABLE
    code, _ = code_of(lambda: stub.RepositoryModelLoad(p.RepositoryModelLoadRequest(model_name="add_one")))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_explicit_load_unload(request, tmp_path, pb):
    p, pbg = pb
    repo = make_repository(str(tmp_path / "repo"))
    s = Server(kiln_binary(request.config), repo, extra=["--model-control-mode", "explicit"])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
            st = pbg.GRPCInferenceServiceStub(ch)
            assert not st.ModelReady(p.ModelReadyRequest(name="add_one")).ready
            x = np.ones((1, 4), dtype=np.float32)
            code, _ = code_of(lambda: st.ModelInfer(infer_request(p, x)))
            assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND)
            st.RepositoryModelLoad(p.RepositoryModelLoadRequest(model_name="add_one"), timeout=120)
            assert st.ModelReady(p.ModelReadyRequest(name="add_one")).ready
            np.testing.assert_array_equal(output_array(st.ModelInfer(infer_request(p, x))), x + 1)
            states = {m.name: m.state for m in st.RepositoryIndex(p.RepositoryIndexRequest(ready=True)).models}
            assert states == {"add_one": "READY"}
            st.RepositoryModelUnload(p.RepositoryModelUnloadRequest(model_name="add_one"), timeout=60)
            assert not st.ModelReady(p.ModelReadyRequest(name="add_one")).ready
            code, _ = code_of(lambda: st.ModelInfer(infer_request(p, x)))
            assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND)
            code, _ = code_of(lambda: st.RepositoryModelLoad(p.RepositoryModelLoadRequest(model_name="nope")))
            assert code == grpc.StatusCode.NOT_FOUND
    finally:
        s.stop()


def test_server_down_is_unavailable(pb):
    p, pbg = pb
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        code, _ = code_of(lambda: pbg.GRPCInferenceServiceStub(ch).ServerLive(p.ServerLiveRequest(), timeout=5))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_stream_infer(stub, pb):
    """ModelStreamInfer answers every request on the stream; a bad one yields error_message, the rest go on."""
    p, _ = pb
    reqs = []
    for i in range(20):
        r = infer_request(p, np.full((1, 4), float(i), dtype=np.float32))
        r.id = f"s{i}"
        reqs.append(r)
    bad = infer_request(p, np.ones((1, 4), dtype=np.float32))
    bad.id = "bad"
    bad.inputs[0].datatype = "INT32"
    reqs.insert(7, bad)
    answers = {}
    for resp in stub.ModelStreamInfer(iter(reqs), timeout=60):
        if resp.error_message:
            answers[resp.infer_response.id] = resp.error_message
        else:
            answers[resp.infer_response.id] = output_array(resp.infer_response)
    assert len(answers) == 21
    assert "INVALID_ARGUMENT" in answers["bad"]
    for i in range(20):
        np.testing.assert_array_equal(answers[f"s{i}"], np.full((1, 4), i + 1.0, dtype=np.float32))


def test_cancelled_calls_leave_server_healthy(stub, pb):
    p, _ = pb
    futures = [stub.ModelInfer.future(infer_request(p, np.ones((8, 4), dtype=np.float32))) for _ in range(50)]
    for f in futures:
        f.cancel()
    x = np.ones((1, 4), dtype=np.float32)
    np.testing.assert_array_equal(output_array(stub.ModelInfer(infer_request(p, x))), x + 1)


def test_malformed_protobuf_is_invalid_argument(server, pb):
    p, _ = pb
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        raw = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
        for garbage in (b"\xff\xff\xff\x01\x02", b"\x0a\x05ab"):
            code, _ = code_of(lambda: raw(garbage, timeout=10))
            assert code == grpc.StatusCode.INVALID_ARGUMENT
        # The same raw path serves a well-formed request.
        req = infer_request(p, np.ones((1, 4), dtype=np.float32))
        resp = p.ModelInferResponse.FromString(raw(req.SerializeToString(), timeout=10))
        np.testing.assert_array_equal(output_array(resp), np.full((1, 4), 2.0, dtype=np.float32))


def test_queue_full_is_resource_exhausted(stub, pb):
    p, _ = pb
    x = np.ones((1, 4), dtype=np.float32)
    futures = [stub.ModelInfer.future(infer_request(p, x, model="tight_queue"), timeout=30) for _ in range(6)]
    codes = []
    for f in futures:
        try:
            np.testing.assert_array_equal(output_array(f.result()), x + 1)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes, codes
    assert grpc.StatusCode.OK in codes, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
