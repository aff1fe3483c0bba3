// CliTree: the FortiOS CLI configuration syntax, parsed into a tree.
//
//   config system ha
//       set session-pickup enable
//       config chassis
//           edit 1
//               set priority 200
//           next
//       end
//   end
//
// Every statement remembers its line so later checks can name the file,
// line and option of a mistake. Values keep their quoting stripped; `#`
// starts a comment outside quotes.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace bladesync {

struct CliSetting {
  std::string key;
  std::vector<std::string> values;
  int line = 0;
  bool unset = false;
};

struct CliBlock {
  std::string name;       // "system ha", or the edit key inside a table
  int line = 0;
  std::vector<CliSetting> settings;
  std::vector<CliBlock> blocks;   // nested `config` blocks
  std::vector<CliBlock> entries;  // `edit` entries, in file order
  bool is_table = false;          // holds edit entries
};

// Parses `text` (read from `file`, used in messages) into a root block whose
// `blocks` are the top-level `config` statements.
Result<CliBlock> ParseCli(const std::string& text, const std::string& file);

}  // namespace bladesync
