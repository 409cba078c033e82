// SHA-256 (FIPS 180-4) of a byte string, as lowercase hex: the model fingerprint in calibration caches.
#pragma once
#include <string>

namespace kiln::calib {

std::string sha256_hex(const std::string& bytes);

}  // namespace kiln::calib
