// Conversions between float and the narrow floating-point formats (fp16, bf16, fp8 variants, fp4, e8m0).
#pragma once
#include <cstdint>

namespace kiln {

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even; overflow to inf
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);  // round to nearest even; NaN stays NaN

// The largest finite float8 e4m3fn value (FP8 scales map a tensor's absolute maximum onto it).
constexpr double kFloat8E4M3Max = 448.0;

// ONNX float8/float4 conversions. `saturate` follows the ONNX Cast/QuantizeLinear "saturate" attribute:
// out-of-range finite values clamp to the largest finite value instead of becoming inf/NaN.
float fp8e4m3fn_to_float(uint8_t v);
float fp8e4m3fnuz_to_float(uint8_t v);
float fp8e5m2_to_float(uint8_t v);
float fp8e5m2fnuz_to_float(uint8_t v);
float fp8e8m0_to_float(uint8_t v);
float fp4e2m1_to_float(uint8_t v);  // low 4 bits used
uint8_t float_to_fp8e4m3fn(float f, bool saturate);
uint8_t float_to_fp8e4m3fnuz(float f, bool saturate);
uint8_t float_to_fp8e5m2(float f, bool saturate);
uint8_t float_to_fp8e5m2fnuz(float f, bool saturate);
// e8m0 rounding mode per ONNX Cast "round_mode": "up" (default), "down", "nearest".
uint8_t float_to_fp8e8m0(float f, bool saturate, const char* round_mode);
uint8_t float_to_fp4e2m1(float f, bool saturate);

}  // namespace kiln
