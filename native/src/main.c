/* crossroot-helper entry point: version, privilege refusal, no_new_privs, dispatch.
 * Reads top to bottom like bubblewrap's main(): nothing runs before the privilege checks. */
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include "commands.h"
#include "util.h"
#include <linux/capability.h>
#include <sys/syscall.h>

static const struct {
  const char *name;
  int (*fn)(int, char **);
  /* Commands that create a user namespace set no_new_privs themselves (enter_userns), right
   * after the setuid newuidmap has written the full id map: under no_new_privs it could not. */
  bool maps_ids;
  const char *help;
} commands[] = {
  {"run", cmd_run, true,
   "run --rootfs DIR [--upper DIR --work DIR] [--arch ARCH] [--qemu PATH] [--bind SRC:DST[:ro]]... [--hostname H]\n"
   "      [--network host|none|private] [--idmap auto|single|full] [--memory BYTES] [--pids N] [--cwd DIR] [--user UID[:GID]]\n"
   "      [--env K=V]... [--status-fd N] [--keep-fd N]... -- CMD [ARGS...]"},
  {"start", cmd_start, true, "start --state DIR [--idle-exit SECONDS] --rootfs DIR [sandbox options as for run] [--status-fd N]"},
  {"exec", cmd_exec, false, "exec --state DIR [--cwd DIR] [--user UID[:GID]] [--env K=V]... [--status-fd N] [--keep-fd N]... -- CMD [ARGS...]"},
  {"stop", cmd_stop, false, "stop --state DIR [--status-fd N]"},
  {"check", cmd_check, true, "check [--arch ARCH] [--qemu PATH] [--rootfs DIR] [--json]"},
  {"arches", cmd_arches, false, "arches [--json]"},
  {"unpack", cmd_unpack, true,
   "unpack --target DIR [--layer FILE]... [--compression auto|gzip|zstd|none] [--idmap auto|single|full|none] [--no-whiteouts] [--status-fd N]"},
  {"decompress", cmd_decompress, false, "decompress --input FILE --output FILE [--status-fd N]"},
  {"pack", cmd_pack, false, "pack --output FILE [--status-fd N] -- PATH..."},
  {"remove", cmd_remove, true, "remove --target DIR [--idmap auto|single|full|none] [--status-fd N]"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: crossroot-helper COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < N_ELEMENTS(commands); i++) fprintf(f, "  %s\n", commands[i].help);
}

/* The helper must never be a way to gain privilege: it only uses what the kernel gives an
 * unprivileged user, so a setuid bit or file capabilities on it can only be a mistake or an attack. */
static void refuse_privilege(void) {
  if (getuid() != geteuid() || getgid() != getegid())
    die_code("ESETUID", "remove the setuid/setgid bit: chmod u-s,g-s crossroot-helper",
             "refusing to run setuid or setgid");
  /* An effective or permitted capability set that the real uid would not have means file caps.
   * capget, not /proc/self/status: one syscall on every helper start (a join is timed). */
  if (getuid() != 0) {
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
    if (syscall(SYS_capget, &hdr, data) == 0 && (data[0].permitted || data[1].permitted || data[0].effective || data[1].effective))
      die_code("EFILECAPS", "remove file capabilities: setcap -r crossroot-helper", "refusing to run with file capabilities");
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
    printf("crossroot-helper %s\n", CROSSROOT_VERSION);
    return 0;
  }
  refuse_privilege();
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
    if (strcmp(argv[1], commands[i].name)) continue;
    if (argc > 2 && !strcmp(argv[2], "--help")) {
      printf("usage: crossroot-helper %s\n", commands[i].help);
      return 0;
    }
    if (!commands[i].maps_ids && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_with_error("prctl(PR_SET_NO_NEW_PRIVS)");
    return commands[i].fn(argc - 1, argv + 1);
  }
  fprintf(stderr, "crossroot-helper: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
