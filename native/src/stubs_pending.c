/* Temporary: subcommands whose files have not landed yet. Each owner deletes its line here
 * when adding its own file. Not shipped in a release. */
#include <stdio.h>
#include "commands.h"
#define PENDING(name) int cmd_##name(int argc, char **argv) { (void)argc; (void)argv; fputs("crossroot-helper: " #name " is not built yet\n", stderr); return 125; }
PENDING(start)
PENDING(exec)
PENDING(stop)
