"""DLPack: CUDA tensors in and DLPack arrays out on GPU builds with a GPU; a clear KilnError everywhere else. CUDA
inputs reach a CUDA engine as device views (no host round trip); CPU engines and check_finite stage them. Outputs
placed on a CUDA engine's own GPU are copied device-to-device; the others are fetched to the host first."""
import ctypes

import numpy as np
import pytest

import kiln
from kiln import _kiln


@pytest.fixture(scope="module")
def cnn(model_paths):
    return kiln.build(model_paths["small_cnn"])


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal((2, 3, 32, 32)).astype(np.float32)


def test_torch_cpu_tensors(cnn):
    torch = pytest.importorskip("torch")
    x = _x()
    want = cnn.create_context().run({"image": x})
    got = cnn.create_context().run({"image": torch.from_numpy(x)})
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


class DLPackOnly:
    """A producer that offers nothing but the DLPack protocol (no buffer protocol, no __array_interface__)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def test_dlpack_only_producer_in_place(cnn):
    from kiln import _kiln
    x = _x(1)
    assert _kiln._input_view("image", DLPackOnly(x)) == x.__array_interface__["data"][0]
    want = cnn.create_context().run({"image": x})
    got = cnn.create_context().run({"image": DLPackOnly(x)})
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.skipif(kiln.built_with_cuda and kiln.cuda_device_count() > 0, reason="GPU present: see test_cuda_*")
def test_cuda_outputs_unavailable_error(cnn):
    with pytest.raises(kiln.KilnError) as e:
        cnn.create_context().run({"image": _x()}, output_device="cuda")
    msg = str(e.value)
    if kiln.built_with_cuda:
        assert "cuda:0" in msg and "CUDA error" in msg, msg  # built with CUDA, no usable GPU on this machine
    else:
        assert "no CUDA backend" in msg, msg


def _cuda_torch():
    torch = pytest.importorskip("torch")
    if not (kiln.built_with_cuda and kiln.cuda_device_count() > 0 and torch.cuda.is_available()):
        pytest.skip("needs a CUDA build of kiln, a GPU and CUDA PyTorch")
    return torch


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_cuda_tensors_in_and_out(model_paths, device):
    torch = _cuda_torch()
    engine = kiln.build(model_paths["small_cnn"], device=device)
    x = _x(3)
    want = kiln.build(model_paths["small_cnn"]).create_context().run({"image": x})
    ctx = engine.create_context()
    got = ctx.run({"image": torch.from_numpy(x).cuda()})
    for k, v in want.items():
        t = torch.from_dlpack(got[k])
        assert t.is_cuda and t.device.index == 0
        np.testing.assert_allclose(t.cpu().numpy(), v, rtol=1e-3, atol=1e-4)
    host = ctx.run({"image": torch.from_numpy(x).cuda()}, output_device="cpu")
    for k, v in want.items():
        assert isinstance(host[k], np.ndarray)
        np.testing.assert_allclose(host[k], v, rtol=1e-3, atol=1e-4)
    with pytest.raises(kiln.KilnError) as e:
        ctx.run({"image": torch.from_numpy(x).cuda().permute(0, 1, 3, 2)})
    assert "contiguous" in str(e.value)


# DLPack's C structs (dlpack.h, unversioned): enough to export a made-up CUDA array without a GPU.
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_PyCapsule_New = ctypes.pythonapi.PyCapsule_New
_PyCapsule_New.restype = ctypes.py_object
_PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_CAPSULE_NAME = ctypes.create_string_buffer(b"dltensor")  # capsules keep the name's pointer: it must outlive them


class FakeCudaArray:
    """float32 "CUDA memory" at a made-up address, exported through DLPack (no GPU needed). Only for conversions
    that read no bytes: the device route (a view of the address) and staging of empty arrays."""

    ADDRESS = 0x7F00DEAD0000

    def __init__(self, shape, device_id=0, strides=None):
        self._shape = (ctypes.c_int64 * len(shape))(*shape)
        self._strides = (ctypes.c_int64 * len(shape))(*strides) if strides else None
        self._mt = _DLManagedTensor()  # no deleter: this object owns the structs and outlives the conversion
        t = self._mt.dl_tensor
        t.data, t.device, t.ndim = self.ADDRESS, _DLDevice(2, device_id), len(shape)  # 2: kDLCUDA
        t.dtype = _DLDataType(2, 32, 1)  # float32
        t.shape = self._shape
        t.strides = self._strides
        self._device_id = device_id

    def __dlpack__(self, stream=None, max_version=None, **kwargs):
        if max_version is not None:
            raise BufferError("this fake exports unversioned capsules only")
        return _PyCapsule_New(ctypes.addressof(self._mt), _CAPSULE_NAME, None)

    def __dlpack_device__(self):
        return (2, self._device_id)


def test_cuda_input_routing_without_gpu():
    # The engine's device: a contiguous CUDA array is bound in place, a view of its own memory (nothing copied).
    assert _kiln._input_route("x", FakeCudaArray((2, 3)), 0) == ("device", FakeCudaArray.ADDRESS)
    assert _kiln._input_route("x", FakeCudaArray((2, 3), device_id=1), 1) == ("device", FakeCudaArray.ADDRESS)
    # The checks hold on the device route too.
    with pytest.raises(kiln.KilnError, match="input 'x': a CUDA tensor must be contiguous"):
        _kiln._input_route("x", FakeCudaArray((2, 3), strides=(1, 2)), 0)
    # No direct device (CPU engine, check_finite) or another device: staged through the host (empty arrays, so that
    # no bytes are read from the made-up address).
    for direct in (-1, 1):
        if kiln.built_with_cuda:
            route, _ = _kiln._input_route("x", FakeCudaArray((0, 3)), direct)
            assert route == "host"
        else:
            with pytest.raises(kiln.KilnError, match="no CUDA backend"):
                _kiln._input_route("x", FakeCudaArray((0, 3)), direct)


def test_cpu_engine_binds_no_device_inputs(cnn):
    assert _kiln._direct_cuda_device(cnn._h) == -1
    assert _kiln._direct_cuda_device(cnn._h, True) == -1


@pytest.mark.skipif(kiln.cuda_device_count() > 0, reason="would read the made-up address on a GPU; "
                    "test_cuda_engine_binds_cuda_tensors covers CPU engines there")
def test_cpu_engine_stages_cuda_inputs_without_gpu(cnn):
    # A CPU engine copies CUDA inputs to the host; here that copy fails for want of a GPU (or of CUDA), not with
    # the engine's refusal of device inputs.
    with pytest.raises(kiln.KilnError) as e:
        cnn.create_context().run({"image": FakeCudaArray((2, 3, 32, 32))})
    msg = str(e.value)
    assert "input 'image'" in msg and "does not run on a GPU" not in msg, msg
    assert ("CUDA error" if kiln.built_with_cuda else "no CUDA backend") in msg, msg


def _assert_equal_outputs(got, want):
    assert list(got) == list(want)
    for k, v in want.items():
        assert isinstance(got[k], np.ndarray), k
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_cuda_engine_binds_cuda_tensors(model_paths):
    torch = _cuda_torch()
    engine = kiln.build(model_paths["small_cnn"], device="cuda")  # fp32: same input bytes, same outputs
    assert engine.info["backend"] == "cuda"
    assert _kiln._direct_cuda_device(engine._h) == 0
    assert _kiln._direct_cuda_device(engine._h, True) == -1  # check_finite reads inputs on the host
    x = _x(4)
    ctx = engine.create_context()
    want = ctx.run({"image": x})
    t = torch.from_numpy(x).cuda()
    assert _kiln._input_route("image", t, 0) == ("device", t.data_ptr())
    for check_finite in (False, True):
        _assert_equal_outputs(ctx.run({"image": t}, output_device="cpu", check_finite=check_finite), want)
    # The device-to-device copy waits for work queued on the legacy default stream (torch's default stream): the
    # bytes are written there behind a ~50 ms sleep, and run is called before they are.
    late = torch.zeros_like(t)
    torch.cuda._sleep(100_000_000)
    late.copy_(t)
    _assert_equal_outputs(ctx.run({"image": late}, output_device="cpu"), want)
    # A CPU engine given the same CUDA tensor stages it through the host.
    cpu = kiln.build(model_paths["small_cnn"])
    _assert_equal_outputs(cpu.create_context().run({"image": t}, output_device="cpu"),
                          cpu.create_context().run({"image": x}))


def test_cuda_engine_mixed_host_and_cuda_inputs(model_paths):
    torch = _cuda_torch()
    engine = kiln.build(model_paths["transformer_block"], device="cuda")
    rng = np.random.default_rng(5)
    tokens = rng.standard_normal((2, 7, 64)).astype(np.float32)
    mask = np.ones((2, 1, 1, 7), np.float32)
    ctx = engine.create_context()
    want = ctx.run({"tokens": tokens, "attention_mask": mask})
    got = ctx.run({"tokens": torch.from_numpy(tokens).cuda(), "attention_mask": mask}, output_device="cpu")
    _assert_equal_outputs(got, want)
    with pytest.raises(kiln.KilnError, match="input 'tokens'.*float32"):
        ctx.run({"tokens": torch.from_numpy(tokens).double().cuda(), "attention_mask": mask})


# Outputs placed on a CUDA engine's own GPU are copied device-to-device from the engine's memory (no host round trip);
# everything else is fetched to the host (and copied up when asked for on a GPU).
def test_output_routing_without_gpu(cnn):
    # A CPU engine: outputs always come from the host.
    for device in ("cpu", "cuda", "cuda:0", "cuda:1"):
        assert _kiln._direct_output_device(cnn._h, device) == -1
    with pytest.raises(kiln.KilnError, match="output_device"):
        _kiln._direct_output_device(cnn._h, "gpu")
    # Dtypes handed out as they lie on the GPU: those whose bytes are the DLPack array's (int4/uint4/int2/uint2 are
    # held one element per byte, as int8/uint8); bfloat16, float8 and float4 are widened to float32 on the host, and
    # strings never reach a GPU.
    for dtype in ("float32", "float16", "float64", "int8", "uint8", "int32", "int64", "bool", "int4", "complex64"):
        assert _kiln._device_output_dtype(dtype), dtype
    for dtype in ("bfloat16", "float8e4m3fn", "float8e5m2", "float4e2m1", "string"):
        assert not _kiln._device_output_dtype(dtype), dtype


def _torch_outputs(torch, got, want, device_index=0):
    assert list(got) == list(want)
    tensors = {}
    for k, v in want.items():
        t = torch.from_dlpack(got[k])
        assert t.is_cuda and t.device.index == device_index, (k, t.device)
        assert t.dtype == torch.from_numpy(v).dtype and tuple(t.shape) == v.shape, (k, t.dtype, t.shape)
        np.testing.assert_array_equal(t.cpu().numpy(), v, err_msg=k)
        tensors[k] = t
    return tensors


@pytest.mark.parametrize("model", ["small_cnn", "postprocess", "shape_ops"])
def test_cuda_engine_outputs_device_to_device(model_paths, model):
    torch = _cuda_torch()
    import onnxruntime as ort
    from conftest import make_feeds
    engine = kiln.build(model_paths[model], device="cuda")  # fp32: the device and host paths give the same bytes
    assert engine.info["backend"] == "cuda"
    for device in ("cuda", "cuda:0"):
        assert _kiln._direct_output_device(engine._h, device) == 0
    assert _kiln._direct_output_device(engine._h, "cpu") == -1
    feeds = make_feeds(ort.InferenceSession(model_paths[model], providers=["CPUExecutionProvider"]),
                       np.random.default_rng(7), {"batch": 2, "boxes": 5, "seq": 5})
    ctx = engine.create_context()
    ctx.run(feeds)  # warm-up: kernels picked for these shapes, so that the runs compared below run the same ones
    want = ctx.run(feeds)  # numpy in, numpy out (fetched to the host)
    assert ctx.last_timings()["d2d_ms"] == 0
    got = ctx.run(feeds, output_device="cuda")
    assert ctx.last_timings()["d2d_ms"] > 0  # at least one output was copied device-to-device
    kept = _torch_outputs(torch, got, want)
    # The arrays own their memory: a later run (other inputs) and dropping the dicts leave them as they were.
    del got
    other = {k: (v + 1 if v.dtype == np.float32 else v) for k, v in feeds.items()}
    again = _torch_outputs(torch, ctx.run(other, output_device="cuda"), ctx.run(other, output_device="cpu"))
    for k, v in want.items():  # (a DLPack capsule is consumed once: each output is converted once)
        np.testing.assert_array_equal(kept[k].cpu().numpy(), v, err_msg=k)
        assert again[k].numel() == 0 or again[k].data_ptr() != kept[k].data_ptr(), k


def test_cuda_engine_cuda_inputs_and_outputs(model_paths):
    torch = _cuda_torch()
    engine = kiln.build(model_paths["transformer_block"], device="cuda")
    rng = np.random.default_rng(8)
    tokens = rng.standard_normal((2, 7, 64)).astype(np.float32)
    mask = np.ones((2, 1, 1, 7), np.float32)
    ctx = engine.create_context()
    ctx.run({"tokens": tokens, "attention_mask": mask})  # warm-up
    want = ctx.run({"tokens": tokens, "attention_mask": mask})
    # Inputs and outputs device-to-device: a CUDA input and a numpy one, outputs where the CUDA input was (default)
    # or asked for on the engine's GPU.
    for output_device in (None, "cuda"):
        got = ctx.run({"tokens": torch.from_numpy(tokens).cuda(), "attention_mask": mask}, output_device=output_device)
        assert ctx.last_timings()["d2d_ms"] > 0
        _torch_outputs(torch, got, want)
    # All inputs on the GPU; check_finite stages the inputs through the host but not the outputs.
    for check_finite in (False, True):
        got = ctx.run({"tokens": torch.from_numpy(tokens).cuda(), "attention_mask": torch.from_numpy(mask).cuda()},
                      check_finite=check_finite)
        _torch_outputs(torch, got, want)
    # Asked for on the host: fetched, no device-to-device copy.
    _assert_equal_outputs(ctx.run({"tokens": torch.from_numpy(tokens).cuda(), "attention_mask": mask},
                                  output_device="cpu"), want)
    assert ctx.last_timings()["d2d_ms"] == 0
