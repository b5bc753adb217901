/* `arches --json`: for every arch, whether this host runs it and how: natively, or through which
 * qemu, with the binfmt_misc line the sandbox registers for it. The one answer the TypeScript side
 * asks (env file diagnostics, the Debian bootstrap), computed by arch_support as `check` and `run`
 * compute theirs, so the editor cannot say "no qemu" where `run` finds one. Cheap: no namespace
 * is made (only i386 on amd64 runs one tiny 32-bit program, to see whether the kernel takes it). */
#include "arch.h"
#include "commands.h"
#include "util.h"
#include <stdio.h>
#include <string.h>

static void print_string_or_null(const char *s) {
  if (!s) {
    fputs("null", stdout);
    return;
  }
  char buf[4096];
  json_escape(buf, sizeof buf, s);
  printf("\"%s\"", buf);
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
      fputs("}", stdout);
    } else {
      printf("%-8s %-4s %s\n", a->name, s.runs ? "ok" : "no", s.detail);
    }
    arch_support_free(&s);
  }
  if (json) puts("]}");
  return 0;
}
