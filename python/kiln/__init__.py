"""Kiln's Python API: compile ONNX models into engines and run them (docs/python.md).

    import kiln, numpy as np
    engine = kiln.build("model.onnx", precision="fp32", shapes={"input": (1, 3, 224, 224)})
    engine.save("model.kiln")                       # the same file `kiln build` writes
    ctx = engine.create_context(threads=2)
    out = ctx.run({"input": np.zeros((1, 3, 224, 224), np.float32)})   # {output name: numpy array}
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Iterable, Mapping, Optional, Sequence, Union



def _busy_fraction(seconds: float = 0.04) -> float:
    """Fraction of the machine's CPU time that was busy over `seconds` (from /proc/stat), or -1 if unknown."""
    import time

    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v) - v[3] - v[4], sum(v)  # busy (minus idle and iowait), total (guest is inside user)

    try:
        b0, t0 = sample()
        time.sleep(seconds)
        b1, t1 = sample()
    except (OSError, ValueError, IndexError):
        return -1.0
    return (b1 - b0) / (t1 - t0) if t1 > t0 else -1.0


def _choose_openmp_wait() -> None:
    """The OpenMP wait policy as the kiln CLI chooses it (tools/kiln/main.cc, docs/cpu-backend.md): a bounded spin
    (GOMP_SPINCOUNT=10000, 10-30 us) when the machine is quiet enough for a context's threads (default: all usable
    cores), else sleeping workers (OMP_WAIT_POLICY=PASSIVE). libgomp reads it when it is loaded, i.e. with _kiln
    below, unless another library (torch) loaded it first. A policy already in the environment, or
    KILN_OMP_WAIT=spin|passive, wins."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    forced = os.environ.get("KILN_OMP_WAIT", "")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = int(os.environ.get("KILN_NUM_THREADS", "0") or 0)
    if threads <= 0 or threads > usable:
        threads = usable
    if forced == "spin":
        spin = True
    elif forced == "passive" or threads == 1:
        spin = False
    else:
        busy, online = _busy_fraction(), os.cpu_count() or 1
        spin = busy >= 0 and busy * online + threads <= usable + 0.5
    if spin:
        os.environ["GOMP_SPINCOUNT"] = "10000"
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


_choose_openmp_wait()

from . import _kiln  # noqa: E402
from ._kiln import KilnError, TensorDesc, cuda_device_count, built_with_cuda, __version__  # noqa: E402

__all__ = ["build", "load", "Engine", "Context", "TensorDesc", "KilnError", "cuda_device_count", "built_with_cuda",
           "__version__"]

ShapeLike = Union[str, Sequence[int]]
PathLike = Union[str, "os.PathLike[str]"]


def _dims(what: str, shape: ShapeLike) -> list[int]:
    """(1, 3, 224, 224), [1, 3, 224, 224] or "1x3x224x224" -> [1, 3, 224, 224]."""
    if isinstance(shape, str):
        parts = shape.split("x") if shape not in ("", "scalar") else []
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise KilnError(f"{what}: expected dims like 1x3x224x224, got '{shape}'") from None
    try:
        dims = [int(d) for d in shape]
    except (TypeError, ValueError):
        raise KilnError(f"{what}: expected a sequence of ints, got {shape!r}") from None
    return dims


def _dtype_name(what: str, dtype: Any) -> str:
    """numpy dtype / type / name ("float16", "fp16", "bf16") -> Kiln's dtype name."""
    aliases = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16", "float": "float32"}
    if isinstance(dtype, str):
        return aliases.get(dtype, dtype)
    try:
        import numpy as np
        return np.dtype(dtype).name
    except TypeError:
        raise KilnError(f"{what}: not a dtype: {dtype!r}") from None


def _device(device: str) -> tuple[str, int]:
    if device == "cpu":
        return "cpu", 0
    if device == "cuda":
        return "cuda", 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return "cuda", int(device[5:])
    raise KilnError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got '{device}'")


def build(model: Union[PathLike, bytes, bytearray, memoryview], *, precision: str = "fp32",
          shapes: Optional[Mapping[str, ShapeLike]] = None,
          profiles: Optional[Sequence[Mapping[str, Sequence[ShapeLike]]]] = None,
          device: str = "cpu", backend: Optional[str] = None, opt_level: int = 3,
          input_dtypes: Optional[Mapping[str, Any]] = None, exact_gelu: bool = False, exact_qdq: bool = False,
          timing_cache: Optional[PathLike] = None,
          calib: Union[None, PathLike, Iterable[Mapping[str, Any]]] = None, calib_cache: Optional[PathLike] = None,
          calib_method: Optional[str] = None, calib_percentile: float = 99.99, calib_batches: int = 0,
          int8_float: str = "fp16", export_qdq: Optional[PathLike] = None, accuracy_budget: Optional[str] = None,
          accuracy_samples: int = 0, accuracy_report: Optional[PathLike] = None) -> "Engine":
    """Compiles an ONNX model (a file path, or the model's bytes) into an Engine; the same build as `kiln build`.

    precision: fp32 | tf32 | fp16 | bf16 | best (int8 needs calibration: see calib).
    shapes: fixed input shapes {name: (1, 3, 224, 224) or "1x3x224x224"}.
    profiles: dynamic-shape profiles, each {name: (min, opt, max)}.
    device: "cpu", "cuda" or "cuda:N". backend: "cpu", "cuda" or "reference" (default: the device's backends).
    input_dtypes: {name: dtype} inputs taken in another type than the model declares (float16, bfloat16, uint8).
    exact_qdq (--exact-qdq): Q/DQ models run every Q/DQ pair as written (default: attention's scores and
    probabilities in float32 so attention fuses; docs/int8.md).
    INT8 (precision="int8", docs/int8.md): calib is the calibration data, either an iterable of samples
    ({input name: array}, each may hold a batch) or the path of a sample folder (`kiln build --calib`);
    calib_cache (--calib-cache) is read when it exists, else written by the calibration; calib_method: mse
    (default) | entropy | minmax | percentile; calib_percentile; calib_batches: samples used (0: all);
    export_qdq: also write the Q/DQ ONNX model there; int8_float (--int8-float): on cuda, the precision of the float
    layers between int8 ones, "fp16" (default) or "fp32".
    Accuracy guard (--accuracy-budget, docs/int8.md): accuracy_budget "[OUTPUT=]METRIC:VALUE[,...]" with METRIC
    top1 | cosine | rel_l2, checked on accuracy_samples held-back calibration samples (0: a fifth) against the FP32
    engine; layers move back to FP32 until it holds, else KilnError. accuracy_report: write the JSON report there.
    The result is in engine.info["accuracy_guard"] and engine.info["layer_precision"].
    The GIL is released while compiling. Raises KilnError with Kiln's one-line message.
    """
    dev, gpu = _device(device)
    shape_map = {str(k): _dims(f"shapes['{k}']", v) for k, v in (shapes or {}).items()}
    prof_list = []
    for i, prof in enumerate(profiles or []):
        p = {}
        for name, rng in prof.items():
            if isinstance(rng, str) or len(rng) != 3:
                raise KilnError(f"profiles[{i}]['{name}']: expected (min, opt, max) shapes, got {rng!r}")
            p[str(name)] = tuple(_dims(f"profiles[{i}]['{name}']", r) for r in rng)
        prof_list.append(p)
    dtypes = {str(k): _dtype_name(f"input_dtypes['{k}']", v) for k, v in (input_dtypes or {}).items()}
    args = dict(device=dev, gpu=gpu, backend=backend or "", precision=precision, shapes=shape_map,
                profiles=prof_list, opt_level=int(opt_level), timing_cache=os.fspath(timing_cache or ""),
                exact_gelu=bool(exact_gelu), exact_qdq=bool(exact_qdq), input_dtypes=dtypes, calib_dir="",
                calib_cache=os.fspath(calib_cache or ""), calib_method=calib_method or "",
                calib_percentile=float(calib_percentile), calib_batches=int(calib_batches), int8_float=int8_float,
                export_qdq=os.fspath(export_qdq or ""), accuracy_budget=accuracy_budget or "",
                accuracy_samples=int(accuracy_samples), accuracy_report=os.fspath(accuracy_report or ""))
    if not isinstance(model, (str, os.PathLike, bytes, bytearray, memoryview)):
        raise KilnError(f"build: expected an ONNX file path or the model's bytes, got {type(model).__name__}")
    # Kiln compiles from files: model bytes and in-memory calibration samples go to a private temporary directory
    # for the duration of the build.
    with tempfile.TemporaryDirectory(prefix="kiln-build-") as tmp:
        if isinstance(model, (bytes, bytearray, memoryview)):
            path = os.path.join(tmp, "model.onnx")
            with open(path, "wb") as f:
                f.write(bytes(model))
        else:
            path = os.fspath(model)
        if isinstance(calib, (str, os.PathLike)):
            args["calib_dir"] = os.fspath(calib)
        elif calib is not None:
            args["calib_dir"] = _write_calib_samples(calib, os.path.join(tmp, "calib"))
        return Engine(_kiln._build(path, **args))


def _write_calib_samples(samples: Iterable[Mapping[str, Any]], out_dir: str) -> str:
    """Writes samples as the calibration folder layout (docs/int8.md): out_dir/sample_NNNNNN/<input>.npy."""
    import re
    import numpy as np
    if isinstance(samples, Mapping) or not hasattr(samples, "__iter__"):
        raise KilnError("calib: expected an iterable of {input name: array} samples or a sample folder path, got "
                        f"{type(samples).__name__}")
    count = 0
    for i, sample in enumerate(samples):
        if not isinstance(sample, Mapping):
            raise KilnError(f"calib: sample {i} is a {type(sample).__name__}, not a dict of input name -> array")
        folder = os.path.join(out_dir, f"sample_{i:06d}")
        os.makedirs(folder)
        for name, value in sample.items():
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))
            np.save(os.path.join(folder, safe + ".npy"), np.asarray(value))
        count += 1
    if count == 0:
        raise KilnError("calib: no samples (the iterable was empty)")
    return out_dir


def load(path: PathLike, gpu: int = -1) -> "Engine":
    """Loads an engine file (same as Engine.load)."""
    return Engine.load(path, gpu=gpu)


class Engine:
    """A compiled model. Immutable and shareable between threads; contexts run it."""

    __slots__ = ("_h",)

    def __init__(self, handle: "_kiln.Engine"):
        self._h = handle

    @staticmethod
    def load(path: PathLike, gpu: int = -1) -> "Engine":
        """Loads an engine file written by `kiln build` or Engine.save. gpu: device for GPU engines (-1: first)."""
        return Engine(_kiln.Engine.load(os.fspath(path), gpu))

    @staticmethod
    def from_bytes(data: Union[bytes, bytearray, memoryview]) -> "Engine":
        """Loads an engine from the bytes Engine.serialize returned."""
        return Engine(_kiln.Engine.from_bytes(bytes(data)))

    def save(self, path: PathLike) -> None:
        """Writes the engine file (readable by `kiln run`, `kiln serve`, `kiln inspect` and Engine.load)."""
        self._h.save(os.fspath(path))

    def serialize(self) -> bytes:
        """The engine file's bytes."""
        return self._h.serialize()

    def inspect(self) -> str:
        """The text `kiln inspect` prints: inputs, outputs, profiles, per-node backend and kernel."""
        return self._h.inspect()

    @property
    def inputs(self) -> list[TensorDesc]:
        return self._h.inputs

    @property
    def outputs(self) -> list[TensorDesc]:
        return self._h.outputs

    @property
    def profiles(self) -> list[dict[str, tuple[list[int], list[int], list[int]]]]:
        return self._h.profiles

    @property
    def info(self) -> dict[str, Any]:
        return self._h.info

    def create_context(self, threads: int = 0) -> "Context":
        """A new runner with its own activation memory. threads: CPU intra-op threads like `--threads`
        (0: KILN_NUM_THREADS, else every core this process may use)."""
        return Context(_kiln._create_context(self._h, int(threads)))

    def __repr__(self) -> str:
        i = self._h.info
        return f"<kiln.Engine {i['source']!r} backend={i['backend']} precision={i['precision']}>"


class Context:
    """One runner of an engine. Runs release the GIL: use one context per thread to run in parallel
    (runs on one context from several threads are serialized)."""

    __slots__ = ("_h",)

    def __init__(self, handle: "_kiln.Context"):
        self._h = handle

    def run(self, inputs: Mapping[str, Any], output_device: Optional[str] = None,
            check_finite: bool = False) -> dict[str, Any]:
        """Runs the engine. inputs: {name: numpy array, or any buffer/DLPack tensor (PyTorch, CuPy)}.

        C-contiguous host arrays of the engine's dtype are used in place (no copy); outputs are numpy arrays that
        own Kiln's output memory (no copy). CUDA tensors (GPU builds) are accepted: a CUDA engine copies them
        device-to-device after the work queued on the default stream, a CPU engine (or check_finite) through host
        memory. Outputs then come back as DLPack arrays on that device (torch.from_dlpack / cupy.from_dlpack) unless
        output_device says otherwise ("cpu", "cuda", "cuda:N"). Lists and scalars are converted with numpy.asarray.
        Raises KilnError naming the bad input (unknown name, wrong dtype or shape, shape outside the profiles).
        """
        if not isinstance(inputs, Mapping):
            raise KilnError(f"run: expected a dict of input name -> array, got {type(inputs).__name__}")
        converted = {}
        for name, value in inputs.items():
            if not (hasattr(value, "__dlpack__") or hasattr(value, "__array_interface__")
                    or isinstance(value, memoryview)):
                value = self._from_python(name, value)
            converted[name] = value
        return self._h.run(converted, output_device, check_finite)

    def _from_python(self, name: Any, value: Any) -> Any:
        """Lists and scalars -> a numpy array of the input's declared dtype (arrays are never converted)."""
        import numpy as np
        declared = {d.name: d.dtype for d in self._h.engine.inputs}.get(name)
        try:
            return np.asarray(value, dtype=declared if declared not in (None, "string", "bfloat16") else None)
        except (TypeError, ValueError) as e:
            raise KilnError(f"input '{name}': cannot convert {type(value).__name__} to an array: {e}") from None

    def set_threads(self, n: int) -> None:
        """CPU intra-op threads for later runs (like `kiln run --threads`)."""
        self._h.set_threads(int(n))

    @property
    def threads(self) -> int:
        return self._h.threads

    def last_timings(self) -> dict[str, float]:
        """Milliseconds of the last run's phases: h2d_ms, compute_ms, d2h_ms (outputs fetched to the host) and
        d2d_ms (outputs copied device-to-device on the engine's GPU; 0 when none were)."""
        return self._h.last_timings()
