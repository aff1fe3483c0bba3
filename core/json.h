// JsonWriter: builds JSON text for the CLI's --json output and the control
// socket. No parsing here: the CLI's readers are scripts and tests.
//
//   JsonWriter j;
//   j.BeginObject().Key("role").String("primary").Key("blades").Int(4).EndObject();
//   std::string text = j.str();
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bladesync {

class JsonWriter {
 public:
  JsonWriter& BeginObject() { Sep(); out_ += '{'; first_.push_back(true); return *this; }
  JsonWriter& EndObject() { out_ += '}'; first_.pop_back(); return *this; }
  JsonWriter& BeginArray() { Sep(); out_ += '['; first_.push_back(true); return *this; }
  JsonWriter& EndArray() { out_ += ']'; first_.pop_back(); return *this; }
  JsonWriter& Key(const std::string& k) {
    Sep();
    Quote(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& String(const std::string& v) { Sep(); Quote(v); return *this; }
  JsonWriter& Int(int64_t v) { Sep(); out_ += std::to_string(v); return *this; }
  JsonWriter& Uint(uint64_t v) { Sep(); out_ += std::to_string(v); return *this; }
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v) { Sep(); out_ += v ? "true" : "false"; return *this; }
  JsonWriter& Null() { Sep(); out_ += "null"; return *this; }
  // Inserts already-formed JSON as a value.
  JsonWriter& Raw(const std::string& json) { Sep(); out_ += json; return *this; }
  const std::string& str() const { return out_; }

 private:
  void Sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  void Quote(const std::string& s);
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace bladesync
