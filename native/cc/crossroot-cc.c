/* crossroot-cc: the `gcc`, `g++`, `cc`, `cpp` … that a foreign-arch env finds first on its PATH
 * (bound read-only at /usr/local/bin/NAME). A static host binary, so nothing emulated sits in the
 * hot path: it runs the host's cross compiler driver (bound under /usr/lib/crossroot/host) with
 * the env's own sysroot and search dirs, as /usr/lib/crossroot/cc.conf says. Without a line for
 * its name (or without the file) it runs the env's own /usr/bin/NAME, so it never breaks a build.
 *
 * cc.conf, one entry per line, "KEY VALUE" (VALUE is the rest of the line):
 *   tool NAME PATH   run PATH when called as NAME
 *   arg ARG          put ARG before the caller's arguments (--sysroot=/, -B…, -nostdinc)
 *   env VAR VALUE    VAR=VALUE, after any VALUE the caller set (C_INCLUDE_PATH, CPLUS_INCLUDE_PATH)
 * Written by src/core/env/native-cc.ts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF "/usr/lib/crossroot/cc.conf"
#define MAX_ARGS 64

static void run_own(const char *name, char **argv) {
  char path[4096];
  snprintf(path, sizeof path, "/usr/bin/%s", name);
  argv[0] = path;
  execv(path, argv);
  fprintf(stderr, "crossroot-cc: cannot run %s: %s\n", path, strerror(errno));
  exit(127);
}

int main(int argc, char **argv) {
  const char *slash = strrchr(argv[0], '/');
  const char *name = slash ? slash + 1 : argv[0];
  FILE *f = fopen(CONF, "re");
  if (!f) run_own(name, argv);
  char *tool = NULL, *args[MAX_ARGS];
  int nargs = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *value = strchr(line, ' ');
    if (!value) continue;
    *value++ = 0;
    if (!strcmp(line, "tool")) {
      char *path = strchr(value, ' ');
      if (path && (*path++ = 0, !strcmp(value, name)) && !tool) tool = strdup(path);
    } else if (!strcmp(line, "arg") && nargs < MAX_ARGS) {
      args[nargs++] = strdup(value);
    } else if (!strcmp(line, "env")) {
      char *v = strchr(value, ' ');
      if (!v) continue;
      *v++ = 0;
      const char *old = getenv(value);
      if (old && *old) {
        char *both = malloc(strlen(old) + strlen(v) + 2);
        if (!both) abort();
        sprintf(both, "%s:%s", old, v);
        setenv(value, both, 1);
        free(both);
      } else {
        setenv(value, v, 1);
      }
    }
  }
  fclose(f);
  if (!tool) run_own(name, argv);
  char **out = calloc((size_t)argc + (size_t)nargs + 1, sizeof *out);
  if (!out) abort();
  int n = 0;
  out[n++] = tool;
  for (int i = 0; i < nargs; i++) out[n++] = args[i];
  for (int i = 1; i < argc; i++) out[n++] = argv[i];
  out[n] = NULL;
  execv(tool, out);
  fprintf(stderr, "crossroot-cc: cannot run the host compiler %s (%s); using the env's own /usr/bin/%s\n", tool, strerror(errno), name);
  run_own(name, argv);
}
