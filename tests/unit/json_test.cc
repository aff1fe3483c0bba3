// JSON output stays valid whatever bytes a string holds (operator input,
// names from the wire): control characters escaped, invalid UTF-8 replaced.
#include <gtest/gtest.h>

#include "core/json.h"

namespace bladesync {
namespace {

std::string Quoted(const std::string& s) {
  JsonWriter j;
  j.BeginObject().Key("s").String(s).EndObject();
  return j.str();
}

TEST(Json, EscapesAndReplacesWhatIsNotValidUtf8) {
  EXPECT_EQ(Quoted("a\"b\\c\n\x01"), R"({"s":"a\"b\\c\n\u0001"})");
  EXPECT_EQ(Quoted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"), "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82\"}");
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(Quoted("x\xff y"), "{\"s\":\"x" + fffd + " y\"}");
  EXPECT_EQ(Quoted("\xc3"), "{\"s\":\"" + fffd + "\"}");                 // cut short
  EXPECT_EQ(Quoted("\xc0\xaf"), "{\"s\":\"" + fffd + fffd + "\"}");      // overlong
  EXPECT_EQ(Quoted("\xed\xa0\x80"), "{\"s\":\"" + fffd + fffd + fffd + "\"}");  // a surrogate
}

}  // namespace
}  // namespace bladesync
