#include "config/cli_tree.h"

#include <set>
#include <sstream>

namespace bladesync {
namespace {

// Deeper than any real config (system ha / session-sync-filter /
// custom-service / edit is four); a bound keeps a hostile file from
// exhausting the stack of whatever walks or frees the tree.
constexpr size_t kMaxDepth = 16;

// A word as an error message shows it: at most 64 characters of it.
std::string Shown(const std::string& word) { return word.size() <= 64 ? word : word.substr(0, 64) + "..."; }

Status Error(const std::string& file, int line, const std::string& what) {
  return InvalidArgument(file + ":" + std::to_string(line) + ": " + what);
}

// Splits one line into words; quotes group, backslash escapes inside quotes;
// a word that begins with '#' begins a comment.
Result<std::vector<std::string>> Words(const std::string& line, const std::string& file, int lineno) {
  std::vector<std::string> out;
  if (line.find('\0') != std::string::npos) return Error(file, lineno, "binary data (a NUL byte): not a config file");
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    std::string w;
    if (line[i] == '"' || line[i] == '\'') {
      const char q = line[i++];
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          w += line[i + 1];
          i += 2;
        } else if (line[i] == q) {
          closed = true;
          ++i;
          break;
        } else {
          w += line[i++];
        }
      }
      if (!closed) return Error(file, lineno, "unterminated quoted string");
    } else {
      // '#' starts a comment only where a word would start: inside a word
      // (a password such as abc#def) it is part of it.
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') w += line[i++];
    }
    out.push_back(w);
  }
  return out;
}

}  // namespace

Result<CliBlock> ParseCli(const std::string& text, const std::string& file) {
  CliBlock root;
  root.name = "(top level)";
  std::vector<CliBlock*> stack{&root};   // current block: a config block or an edit entry
  std::vector<bool> in_edit{false};      // whether stack.back() is an edit entry
  // Names already used in each open block, level by level beside `stack`:
  // `edit` and `config` given twice are found without a scan (a file of
  // 300,000 edits takes no minute).
  std::vector<std::set<std::string>> edits{{}}, configs{{}};
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto words = Words(line, file, lineno);
    if (!words.ok()) return words.status();
    const std::vector<std::string>& w = words.value();
    if (w.empty()) continue;
    const std::string& cmd = w[0];
    CliBlock* cur = stack.back();
    if ((cmd == "config" || cmd == "edit") && stack.size() > kMaxDepth) {
      return Error(file, lineno, "blocks nest deeper than " + std::to_string(kMaxDepth) + " levels ('" + cmd +
                                     "' inside '" + cur->name + "' from line " + std::to_string(cur->line) + ")");
    }
    if (cmd == "config") {
      if (w.size() < 2) return Error(file, lineno, "'config' needs a name");
      if (cur->is_table) return Error(file, lineno, "'config' inside a table needs an 'edit' first");
      std::string name;
      for (size_t k = 1; k < w.size(); ++k) name += (k > 1 ? " " : "") + w[k];
      if (!configs.back().insert(name).second) {
        for (const CliBlock& b : cur->blocks) {
          if (b.name == name) {
            return Error(file, lineno, "'config " + Shown(name) + "' appears twice in '" + Shown(cur->name) +
                                           "' (first at line " + std::to_string(b.line) + ")");
          }
        }
      }
      cur->blocks.push_back(CliBlock{name, lineno, {}, {}, {}, false});
      stack.push_back(&cur->blocks.back());
      in_edit.push_back(false);
      edits.emplace_back();
      configs.emplace_back();
    } else if (cmd == "edit") {
      if (w.size() != 2) return Error(file, lineno, "'edit' takes one name");
      if (stack.size() == 1 || in_edit.back()) return Error(file, lineno, "'edit' outside a 'config' block");
      if (!cur->settings.empty()) return Error(file, lineno, "'edit' in a block that already has 'set' lines");
      cur->is_table = true;
      if (!edits.back().insert(w[1]).second) {
        for (const CliBlock& e : cur->entries) {
          if (e.name == w[1]) {
            return Error(file, lineno, "'edit " + Shown(w[1]) + "' appears twice in 'config " + Shown(cur->name) +
                                           "' (first at line " + std::to_string(e.line) + ")");
          }
        }
      }
      cur->entries.push_back(CliBlock{w[1], lineno, {}, {}, {}, false});
      stack.push_back(&cur->entries.back());
      in_edit.push_back(true);
      edits.emplace_back();
      configs.emplace_back();
    } else if (cmd == "next") {
      if (!in_edit.back()) return Error(file, lineno, "'next' without 'edit'");
      stack.pop_back();
      in_edit.pop_back();
      edits.pop_back();
      configs.pop_back();
    } else if (cmd == "end") {
      if (in_edit.back()) return Error(file, lineno, "'end' before 'next' closes the 'edit " + cur->name + "'");
      if (stack.size() == 1) return Error(file, lineno, "'end' without 'config'");
      stack.pop_back();
      in_edit.pop_back();
      edits.pop_back();
      configs.pop_back();
    } else if (cmd == "set" || cmd == "unset") {
      if (stack.size() == 1) return Error(file, lineno, "'" + cmd + "' outside a 'config' block");
      if (cur->is_table) return Error(file, lineno, "'" + cmd + "' in a table needs an 'edit' first");
      if (w.size() < 2) return Error(file, lineno, "'" + cmd + "' needs an option name");
      if (cmd == "set" && w.size() < 3) return Error(file, lineno, "option '" + w[1] + "' needs a value");
      CliSetting s{w[1], std::vector<std::string>(w.begin() + 2, w.end()), lineno, cmd == "unset"};
      cur->settings.push_back(std::move(s));
    } else {
      return Error(file, lineno, "unknown statement '" + Shown(cmd) + "' (expected config, set, unset, edit, next or end)");
    }
    // Pointers into vectors stay valid: a block only grows while it is on top.
  }
  if (stack.size() > 1) {
    return Error(file, stack.back()->line, "'" + stack.back()->name + "' is never closed ('end' or 'next' missing)");
  }
  return root;
}

}  // namespace bladesync
