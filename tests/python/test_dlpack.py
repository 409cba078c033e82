"""DLPack: CUDA tensors in and DLPack arrays out on GPU builds with a GPU; a clear KilnError everywhere else."""
import numpy as np
import pytest

import kiln


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
