// bladesync: the operator CLI, the demo (main job) and tools.
#include "cmd/cli_commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return bladesync::RunCli(args);
}
