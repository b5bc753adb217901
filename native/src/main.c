/* crossroot-helper entry point: version, privilege refusal, no_new_privs, dispatch.
 * Reads top to bottom like bubblewrap's main(): nothing runs before the privilege checks. */
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include "commands.h"
#include "util.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
  {"run", cmd_run, "run --rootfs DIR [--arch ARCH] [--bind SRC:DST[:ro]]... [--cwd DIR] [--env K=V]... -- CMD [ARGS...]"},
  {"start", cmd_start, "start --rootfs DIR [options as for run] --state DIR"},
  {"exec", cmd_exec, "exec --state DIR [--cwd DIR] [--env K=V]... -- CMD [ARGS...]"},
  {"stop", cmd_stop, "stop --state DIR"},
  {"check", cmd_check, "check [--arch ARCH] [--json]"},
  {"unpack", cmd_unpack, "unpack --target DIR [--compression auto|gzip|zstd|none] < LAYER"},
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
  /* An effective or permitted capability set that the real uid would not have means file caps. */
  if (getuid() != 0) {
    char *st = read_file_at(AT_FDCWD, "/proc/self/status", NULL);
    if (st) {
      char *p = strstr(st, "\nCapPrm:\t");
      if (p && strtoull(p + 9, NULL, 16) != 0) {
        free(st);
        die_code("EFILECAPS", "remove file capabilities: setcap -r crossroot-helper",
                 "refusing to run with file capabilities");
      }
      free(st);
    }
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
    printf("crossroot-helper %s\n", CROSSROOT_VERSION);
    return 0;
  }
  refuse_privilege();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_with_error("prctl(PR_SET_NO_NEW_PRIVS)");
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < N_ELEMENTS(commands); i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "crossroot-helper: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
