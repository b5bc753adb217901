/* Private binfmt_misc: since Linux 6.7 a user namespace can mount its own binfmt_misc instance,
 * so foreign binaries run through qemu without touching the host's registrations. The F flag
 * makes the kernel open the interpreter now, while the host path is still visible; after
 * pivot_root it would not be. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>

/* A host registration with the F flag also works in the sandbox (it was opened at registration). */
static bool host_has_handler(const struct arch *a) {
  char path[128];
  snprintf(path, sizeof path, "/proc/sys/fs/binfmt_misc/qemu-%s", a->qemu);
  cleanup_free char *entry = read_file_at(AT_FDCWD, path, NULL);
  if (!entry || strncmp(entry, "enabled", 7)) return false;
  const char *flags = strstr(entry, "\nflags: ");
  bool fixed = false;
  for (const char *c = flags ? flags + 8 : ""; *c && *c != '\n'; c++) fixed |= *c == 'F';
  return fixed;
}

void binfmt_register(const struct sandbox *sb, const char *binfmt_dir) {
  const struct arch *a = sb->arch;
  if (mount("binfmt_misc", binfmt_dir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
    int e = errno;
    if (sb->binfmt_fallback || host_has_handler(a)) return;
    struct utsname u;
    uname(&u);
    if (e == EPERM || e == ENODEV || e == EINVAL)
      die_code("EBINFMT",
               xasprintf("upgrade to Linux 6.7 or later, or register qemu on the host once: sudo apt-get install qemu-user-static "
                         "(it ships /usr/lib/binfmt.d/qemu-%s.conf with the F flag), then sudo systemctl restart systemd-binfmt",
                         a->qemu),
               "kernel %s cannot give a user namespace its own binfmt_misc (needs Linux 6.7), and the host has no "
               "qemu-%s handler with the F flag: %s", u.release, a->qemu, strerror(e));
    errno = e;
    die_with_error("mounting binfmt_misc on %s", binfmt_dir);
  }
  cleanup_free char *rule = arch_binfmt_rule(a, sb->qemu);
  cleanup_free char *reg = xasprintf("%s/register", binfmt_dir);
  int r = write_file_at(AT_FDCWD, reg, rule);
  if (r < 0 && sb->binfmt_fallback) return;
  if (r < 0) {
    errno = -r;
    die_code("EBINFMT", "check that the qemu interpreter is a static binary (qemu-user-static) and readable",
             "registering %s for %s in the private binfmt_misc failed: %s", sb->qemu, a->name, strerror(-r));
  }
}
