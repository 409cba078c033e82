"""The Python API and the CLI share one engine format: each loads and runs what the other built, with the same
results, and engine.inspect() is `kiln inspect`'s text."""
import os
import subprocess

import numpy as np

import kiln


def _cli(kiln_cli, *args):
    p = subprocess.run([kiln_cli, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"kiln {' '.join(args)}: {p.stderr}"
    return p.stdout


def test_cli_built_engine_runs_in_python(kiln_cli, model_paths, tmp_path):
    engine_path = str(tmp_path / "tb.kiln")
    _cli(kiln_cli, "build", model_paths["transformer_block"], "-o", engine_path)
    rng = np.random.default_rng(1)
    feeds = {"tokens": rng.standard_normal((2, 6, 64)).astype(np.float32),
             "attention_mask": np.zeros((2, 1, 1, 6), np.float32)}
    for name, arr in feeds.items():
        np.save(tmp_path / f"{name}.npy", arr)
    out_dir = tmp_path / "out"
    _cli(kiln_cli, "run", engine_path, *[a for n in feeds for a in ("--input", f"{n}={tmp_path / (n + '.npy')}")],
         "--output-dir", str(out_dir), "--output-format", "npy")
    engine = kiln.Engine.load(engine_path)
    got = engine.create_context().run(feeds)
    for name, arr in got.items():
        np.testing.assert_allclose(arr, np.load(out_dir / f"{name}.npy"), rtol=1e-5, atol=1e-6)
    assert engine.inspect() == _cli(kiln_cli, "inspect", engine_path)


def test_python_built_engine_runs_in_cli(kiln_cli, model_paths, tmp_path):
    engine = kiln.build(model_paths["small_cnn"], shapes={"image": (2, 3, 32, 32)})
    engine_path = str(tmp_path / "cnn.kiln")
    engine.save(engine_path)
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "image.npy", x)
    out_dir = tmp_path / "out"
    _cli(kiln_cli, "run", engine_path, "--input", f"image={tmp_path / 'image.npy'}", "--output-dir", str(out_dir),
         "--output-format", "npy")
    got = engine.create_context().run({"image": x})
    assert sorted(got) == sorted(f[:-4] for f in os.listdir(out_dir))
    for name, arr in got.items():
        np.testing.assert_allclose(arr, np.load(out_dir / f"{name}.npy"), rtol=1e-5, atol=1e-6)
    assert _cli(kiln_cli, "inspect", engine_path) == engine.inspect()
    # serialize / from_bytes: the same bytes as the file
    with open(engine_path, "rb") as f:
        assert engine.serialize() == f.read()
    again = kiln.Engine.from_bytes(engine.serialize()).create_context().run({"image": x})
    for name in got:
        np.testing.assert_array_equal(again[name], got[name])
