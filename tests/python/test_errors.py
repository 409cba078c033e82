"""Bad input raises kiln.KilnError (a RuntimeError) carrying Kiln's one-line message and status code."""
import numpy as np
import pytest

import kiln


@pytest.fixture(scope="module")
def cnn(model_paths):
    return kiln.build(model_paths["small_cnn"])


def _raises(fn, *fragments, code=None):
    with pytest.raises(kiln.KilnError) as e:
        fn()
    msg = str(e.value)
    assert isinstance(e.value, RuntimeError)
    assert "\n" not in msg.strip(), f"not one line: {msg!r}"
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    if code:
        assert e.value.code == code, e.value.code
    return msg


def test_unknown_input_name(cnn):
    _raises(lambda: cnn.create_context().run({"imag": np.zeros((1, 3, 32, 32), np.float32)}), "imag")


def test_missing_input(cnn):
    _raises(lambda: cnn.create_context().run({}), "image")


def test_wrong_dtype(cnn):
    _raises(lambda: cnn.create_context().run({"image": np.zeros((1, 3, 32, 32), np.float64)}), "image", "float64")


def test_wrong_rank_and_dims(cnn):
    _raises(lambda: cnn.create_context().run({"image": np.zeros((3, 32, 32), np.float32)}), "image")
    _raises(lambda: cnn.create_context().run({"image": np.zeros((1, 4, 32, 32), np.float32)}), "image")


def test_not_an_array(cnn):
    _raises(lambda: cnn.create_context().run({"image": object()}), "image")
    _raises(lambda: cnn.create_context().run({"image": np.zeros(3, dtype=object)}), "image", "element 0")
    _raises(lambda: cnn.create_context().run([1, 2]), "dict")


def test_nonfinite_check(cnn):
    x = np.zeros((1, 3, 32, 32), np.float32)
    x[0, 0, 0, 0] = np.nan
    _raises(lambda: cnn.create_context().run({"image": x}, check_finite=True), "image")


def test_corrupt_and_missing_files(cnn, tmp_path):
    path = tmp_path / "m.kiln"
    cnn.save(path)
    data = path.read_bytes()
    (tmp_path / "trunc.kiln").write_bytes(data[: len(data) // 2])
    _raises(lambda: kiln.Engine.load(tmp_path / "trunc.kiln"), "trunc.kiln")
    _raises(lambda: kiln.Engine.load(tmp_path / "absent.kiln"), "absent.kiln")
    _raises(lambda: kiln.Engine.from_bytes(b"not an engine"))


def test_bad_onnx(tmp_path, model_paths):
    _raises(lambda: kiln.build(b"\x08\x07garbage" * 10))
    with open(model_paths["small_cnn"], "rb") as f:
        onnx_bytes = f.read()
    (tmp_path / "cut.onnx").write_bytes(onnx_bytes[: len(onnx_bytes) * 2 // 3])
    _raises(lambda: kiln.build(tmp_path / "cut.onnx"), "cut.onnx")
    _raises(lambda: kiln.build(tmp_path / "none.onnx"), "none.onnx")
    _raises(lambda: kiln.build(42), "int")


def test_bad_build_options(model_paths):
    path = model_paths["small_cnn"]
    _raises(lambda: kiln.build(path, precision="fp12"), "fp12")
    _raises(lambda: kiln.build(path, device="tpu"), "tpu")
    _raises(lambda: kiln.build(path, shapes={"image": "1xthree"}), "1xthree")
    _raises(lambda: kiln.build(path, shapes={"nope": (1, 3, 32, 32)}), "nope")
    _raises(lambda: kiln.build(path, profiles=[{"image": ((1, 3, 32, 32), (2, 3, 32, 32))}]), "min, opt, max")
    _raises(lambda: kiln.build(path, input_dtypes={"image": "float99"}), "float99")


def test_bad_calibration(model_paths, tmp_path):
    path = model_paths["small_cnn"]
    _raises(lambda: kiln.build(path, precision="int8"), "calib")
    _raises(lambda: kiln.build(path, precision="int8", calib=[]), "no samples")
    _raises(lambda: kiln.build(path, precision="int8", calib=[np.zeros((1, 3, 32, 32), np.float32)]), "sample 0")
    _raises(lambda: kiln.build(path, precision="int8", calib=[{"other": np.zeros((1, 3, 32, 32), np.float32)}]),
            "image")
    _raises(lambda: kiln.build(path, precision="int8", calib=tmp_path / "no_such_dir"), "no_such_dir")


def test_bad_output_device(cnn):
    _raises(lambda: cnn.create_context().run({"image": np.zeros((1, 3, 32, 32), np.float32)}, output_device="tpu:0"),
            "output_device")
