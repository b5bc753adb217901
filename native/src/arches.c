/* `arches --json`: for every arch, whether this host runs it and how: natively, or through which
 * qemu, with the binfmt_misc line the sandbox registers for it. The one answer the TypeScript side
 * asks (env file diagnostics, the Debian bootstrap), computed by arch_support as `check` and `run`
 * compute theirs, so the editor cannot say "no qemu" where `run` finds one. Cheap: no namespace
 * is made (only i386 on amd64 runs one tiny 32-bit program, to see whether the kernel takes it). */
#include "arch.h"
#include "commands.h"
#include "util.h"
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void print_string_or_null(const char *s) {
  if (!s) {
    fputs("null", stdout);
    return;
  }
  char buf[4096];
  json_escape(buf, sizeof buf, s);
  printf("\"%s\"", buf);
}

/* Where Debian's cross toolchains put their drivers; CROSSROOT_CROSS_DIR replaces it (tests). */
static const char *cross_dir(void) {
  const char *d = getenv("CROSSROOT_CROSS_DIR");
  return d && *d ? d : "/usr/bin";
}

static bool runnable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* "DIR/TRIPLET-TOOL-MAJOR" when it is an executable file, else NULL. */
static char *cross_tool(const char *triplet, const char *tool, long major) {
  char *p = xasprintf("%s/%s-%s-%ld", cross_dir(), triplet, tool, major);
  if (runnable(p)) return p;
  free(p);
  return NULL;
}

/* The host's cross compilers for `a` (Debian's gcc-N-TRIPLET: DIR/TRIPLET-gcc-N), as JSON:
 * [{"major":N,"gcc":…,"gxx":…|null,"cpp":…|null}], majors ascending. Crossroot runs them inside
 * foreign envs whose own gcc has the same major (src/core/env/native-cc.ts). */
static void print_cross(const struct arch *a) {
  long majors[16];
  size_t n = 0;
  DIR *d = arch_is_native(a) ? NULL : opendir(cross_dir());
  if (d) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s-gcc-", a->triplet);
    for (struct dirent *e; (e = readdir(d)) && n < 16;) {
      if (strncmp(e->d_name, prefix, strlen(prefix))) continue;
      const char *v = e->d_name + strlen(prefix);
      char *end;
      long m = strtol(v, &end, 10);
      if (!isdigit((unsigned char)*v) || *end || m <= 0) continue;
      char *gcc = cross_tool(a->triplet, "gcc", m);
      if (!gcc) continue;
      free(gcc);
      size_t at = n++;
      while (at > 0 && majors[at - 1] > m) { majors[at] = majors[at - 1]; at--; }
      majors[at] = m;
    }
    closedir(d);
  }
  fputs("[", stdout);
  for (size_t i = 0; i < n; i++) {
    printf("%s{\"major\":%ld", i ? "," : "", majors[i]);
    static const char *tools[][2] = {{"gcc", "gcc"}, {"gxx", "g++"}, {"cpp", "cpp"}};
    for (size_t t = 0; t < 3; t++) {
      char *p = cross_tool(a->triplet, tools[t][1], majors[i]);
      printf(",\"%s\":", tools[t][0]);
      print_string_or_null(p);
      free(p);
    }
    fputs("}", stdout);
  }
  fputs("]", stdout);
}

int cmd_arches(int argc, char **argv) {
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = true;
    else die_code("EUSAGE", "usage: arches [--json]", "unknown option '%s'", argv[i]);
  }
  const struct arch *host = arch_host();
  if (json) {
    fputs("{\"host\":", stdout);
    print_string_or_null(host ? host->name : NULL);
    fputs(",\"qemuDirs\":", stdout);
    print_string_or_null(qemu_dirs());
    fputs(",\"arches\":[", stdout);
  }
  for (size_t i = 0; arch_at(i); i++) {
    const struct arch *a = arch_at(i);
    struct arch_support s;
    arch_support(a, NULL, &s);
    if (json) {
      printf("%s{\"name\":\"%s\",\"native\":%s,\"runs\":%s,\"qemu\":", i ? "," : "", a->name, s.native ? "true" : "false",
             s.runs ? "true" : "false");
      print_string_or_null(s.qemu);
      fputs(",\"binfmt\":", stdout);
      print_string_or_null(s.binfmt);
      fputs(",\"detail\":", stdout);
      print_string_or_null(s.detail);
      fputs(",\"fix\":", stdout);
      print_string_or_null(s.fix);
      fputs(",\"triplet\":", stdout);
      print_string_or_null(a->triplet);
      fputs(",\"cross\":", stdout);
      print_cross(a);
      fputs("}", stdout);
    } else {
      printf("%-8s %-4s %s\n", a->name, s.runs ? "ok" : "no", s.detail);
    }
    arch_support_free(&s);
  }
  if (json) puts("]}");
  return 0;
}
