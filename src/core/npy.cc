// .npy codec: parses the header dict strictly and checks the payload size against the shape.
#include "core/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln {

namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
constexpr NpyType kTypes[] = {{"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16},
                              {"|i1", DType::kInt8},    {"<i2", DType::kInt16},   {"<i4", DType::kInt32},
                              {"<i8", DType::kInt64},   {"|u1", DType::kUInt8},   {"<u2", DType::kUInt16},
                              {"<u4", DType::kUInt32},  {"<u8", DType::kUInt64},  {"|b1", DType::kBool}};

std::string field(const std::string& header, const std::string& key) {
  auto p = header.find("'" + key + "'");
  if (p == std::string::npos) return "";
  p = header.find(':', p);
  if (p == std::string::npos) return "";
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) return "";
  if (header[p] == '\'') {
    auto e = header.find('\'', p + 1);
    return e == std::string::npos ? "" : header.substr(p + 1, e - p - 1);
  }
  if (header[p] == '(') {
    auto e = header.find(')', p);
    return e == std::string::npos ? "" : header.substr(p, e - p + 1);
  }
  auto e = header.find_first_of(",}", p);
  return header.substr(p, e - p);
}

}  // namespace

Result<Tensor> load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string b = ss.str();
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) return invalid_argument(path + ": not a .npy file");
  uint8_t major = static_cast<uint8_t>(b[6]);
  size_t hlen, hstart;
  if (major == 1) {
    hlen = static_cast<uint8_t>(b[8]) | (static_cast<uint8_t>(b[9]) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) return data_loss(path + ": truncated .npy header");
    uint32_t l;
    std::memcpy(&l, &b[8], 4);
    hlen = l;
    hstart = 12;
  } else {
    return invalid_argument(path + ": unsupported .npy version " + std::to_string(major));
  }
  if (hstart + hlen > b.size()) return data_loss(path + ": truncated .npy header");
  std::string header = b.substr(hstart, hlen);
  std::string descr = field(header, "descr");
  if (field(header, "fortran_order").find("True") != std::string::npos)
    return unimplemented(path + ": Fortran-ordered .npy arrays are not supported");
  DType dt = DType::kUndefined;
  for (const auto& t : kTypes)
    if (descr == t.descr) dt = t.dtype;
  if (dt == DType::kUndefined) return unimplemented(path + ": unsupported .npy dtype '" + descr + "'");
  std::string shape = field(header, "shape");
  if (shape.size() < 2) return invalid_argument(path + ": .npy header has no shape");
  Dims dims;
  std::stringstream sh(shape.substr(1, shape.size() - 2));
  std::string item;
  while (std::getline(sh, item, ',')) {
    size_t a = item.find_first_not_of(' ');
    if (a == std::string::npos) continue;
    try {
      dims.push_back(std::stoll(item.substr(a)));
    } catch (...) {
      return invalid_argument(path + ": bad .npy shape '" + shape + "'");
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dt, dims));
  size_t payload = b.size() - hstart - hlen;
  if (payload != t.nbytes())
    return data_loss(path + ": .npy payload has " + std::to_string(payload) + " bytes, shape needs " + std::to_string(t.nbytes()));
  std::memcpy(t.raw(), b.data() + hstart + hlen, t.nbytes());
  return t;
}

Status save_npy(const std::string& path, const Tensor& t) {
  const char* descr = nullptr;
  for (const auto& x : kTypes)
    if (x.dtype == t.dtype()) descr = x.descr;
  if (!descr) return unimplemented(std::string("cannot write dtype ") + dtype_name(t.dtype()) + " to .npy; use .pb");
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); ++i) shape += std::to_string(t.dim(i)) + (t.rank() == 1 || i + 1 < t.rank() ? "," : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) return not_found("cannot write '" + path + "'");
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&hl), 2);
  f << header;
  f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  return f ? ok_status() : internal_error("failed writing '" + path + "'");
}

}  // namespace kiln
