// Little-endian byte writer and a bounds-checked reader used by the engine file codec.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

class ByteWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { raw(&v, 2); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f32(float v) { raw(&v, 4); }
  void str(const std::string& s) {
    u64(s.size());
    buf_.append(s);
  }
  void raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  void align(size_t a) {
    while (buf_.size() % a) buf_.push_back('\0');
  }
  size_t size() const { return buf_.size(); }
  std::string& bytes() { return buf_; }

 private:
  std::string buf_;
};

// Every read checks the remaining length; the first failure sticks and is reported by status().
class ByteReader {
 public:
  ByteReader(const char* data, size_t size, std::string what) : p_(data), end_(data + size), what_(std::move(what)) {}
  bool ok() const { return ok_; }
  Status status() const { return ok_ ? ok_status() : data_loss(what_ + ": " + error_); }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const char* cursor() const { return p_; }

  uint8_t u8() { uint8_t v = 0; raw(&v, 1); return v; }
  uint16_t u16() { uint16_t v = 0; raw(&v, 2); return v; }
  uint32_t u32() { uint32_t v = 0; raw(&v, 4); return v; }
  uint64_t u64() { uint64_t v = 0; raw(&v, 8); return v; }
  int64_t i64() { int64_t v = 0; raw(&v, 8); return v; }
  float f32() { float v = 0; raw(&v, 4); return v; }
  std::string str() {
    uint64_t n = u64();
    if (!ok_ || n > remaining()) return fail("string length " + std::to_string(n) + " runs past the end"), std::string();
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  // A count of items each at least `min_item_bytes` long: rejects counts the remaining bytes cannot hold.
  uint64_t count(size_t min_item_bytes) {
    uint64_t n = u64();
    if (ok_ && min_item_bytes && n > remaining() / min_item_bytes) fail("item count " + std::to_string(n) + " is impossible");
    return ok_ ? n : 0;
  }
  void raw(void* out, size_t n) {
    if (!ok_ || n > remaining()) {
      fail("unexpected end of data");
      std::memset(out, 0, n);
      return;
    }
    std::memcpy(out, p_, n);
    p_ += n;
  }
  void fail(const std::string& msg) {
    if (ok_) error_ = msg;
    ok_ = false;
  }

 private:
  const char* p_;
  const char* end_;
  std::string what_;
  bool ok_ = true;
  std::string error_;
};

}  // namespace kiln
