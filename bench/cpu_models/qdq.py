"""ONNX Runtime's own static quantization of a benchmark model (QDQ format), for the int8 rows of cpu_compare.py, and
its dynamic quantization (quantize_dynamic: DynamicQuantizeLinear -> MatMulInteger), for the dynamic-int8 rows.

Both Kiln and ONNX Runtime then run the same Q/DQ model: Kiln folds DequantizeLinear -> Conv/MatMul -> Quantize-
Linear into int8 kernels (src/passes/fold_qdq.cc), ORT does the same with its QDQ transformers. Calibration: min-max
over `samples` inputs drawn like the benchmark's own (uniform [-1, 1) floats, ids in range). uint8 activations,
int8 per-channel weights; reduce_range (7-bit weights) on CPUs without VNNI, where both runtimes' AVX2 int8 kernels
would otherwise saturate (docs/int8.md).
"""
import os

import numpy as np


def has_vnni():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512_vnni" in flags or " avx_vnni" in flags


class _Reader:
    def __init__(self, samples):
        self._it = iter(samples)

    def get_next(self):
        return next(self._it, None)


def quantize(model_path, out_path, make_sample, samples=8):
    """Writes the QDQ model of `model_path` to `out_path` (cached by existence); make_sample(seed) -> {input: array}."""
    if os.path.exists(out_path):
        return out_path
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = out_path + ".pre.onnx"
    try:
        quant_pre_process(model_path, pre, skip_symbolic_shape=True)
    except Exception:  # pre-processing is an optimization; quantize the model as it is when it fails
        pre = model_path
    quantize_static(pre, out_path, _Reader([make_sample(s) for s in range(samples)]), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    reduce_range=not has_vnni(), calibrate_method=CalibrationMethod.MinMax)
    if pre != model_path and os.path.exists(pre):
        os.remove(pre)
    return out_path


def quantize_dynamic_model(model_path, out_path):
    """Writes ORT's quantize_dynamic form of `model_path` to `out_path` (cached by existence): MatMuls with constant
    weights become DynamicQuantizeLinear -> MatMulInteger (int8 per-tensor weights; reduce_range on CPUs without VNNI,
    where ORT's own AVX2 kernel is exact only then, docs/int8.md). Only MatMul is quantized: ConvInteger still runs on
    Kiln's reference kernels."""
    if os.path.exists(out_path):
        return out_path
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(model_path, out_path, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     reduce_range=not has_vnni())
    return out_path
