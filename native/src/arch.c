/* Architecture table and qemu lookup (see arch.h). The magic/mask values are those of qemu's
 * scripts/qemu-binfmt-conf.sh, which Debian ships as /usr/lib/binfmt.d/qemu-*.conf. */
#include "arch.h"
#include "util.h"
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#define ELF_MASK_LE "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"
#define ELF_MASK_X86 "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"
#define ELF_HDR(cls, data) "\\x7f\\x45\\x4c\\x46\\x" cls "\\x" data "\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"

static const struct arch arches[] = {
  {"amd64", {"x86_64", "x86-64", "x64"}, "x86_64", ELF_HDR("02", "01") "\\x02\\x00\\x3e\\x00", ELF_MASK_X86},
  {"arm64", {"aarch64", "arm64/v8", "armv8"}, "aarch64", ELF_HDR("02", "01") "\\x02\\x00\\xb7\\x00", ELF_MASK_LE},
  {"armhf", {"arm", "armv7", "armv7l", "arm/v7"}, "arm", ELF_HDR("01", "01") "\\x02\\x00\\x28\\x00", ELF_MASK_LE},
  {"riscv64", {"riscv", "rv64"}, "riscv64", ELF_HDR("02", "01") "\\x02\\x00\\xf3\\x00", ELF_MASK_LE},
  {"ppc64el", {"ppc64le", "powerpc64le"}, "ppc64le", ELF_HDR("02", "01") "\\x02\\x00\\x15\\x00",
   "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\x00"},
  {"s390x", {0}, "s390x", ELF_HDR("02", "02") "\\x00\\x02\\x00\\x16",
   "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
  {"i386", {"x86", "i686", "i586", "386"}, "i386", ELF_HDR("01", "01") "\\x02\\x00\\x03\\x00", ELF_MASK_X86},
};

const struct arch *arch_lookup(const char *name) {
  for (size_t i = 0; i < N_ELEMENTS(arches); i++) {
    if (!strcasecmp(name, arches[i].name)) return &arches[i];
    for (size_t j = 0; j < N_ELEMENTS(arches[i].aliases) && arches[i].aliases[j]; j++)
      if (!strcasecmp(name, arches[i].aliases[j])) return &arches[i];
  }
  return NULL;
}

const struct arch *arch_host(void) {
  static const struct arch *host;
  if (!host) {
    struct utsname u;
    uname(&u);
    /* 32-bit arm hosts say armv7l/armv8l; anything else unknown is treated as foreign to all. */
    host = arch_lookup(u.machine);
    if (!host && !strncmp(u.machine, "armv", 4)) host = arch_lookup("armhf");
  }
  return host;
}

bool arch_is_native(const struct arch *a) {
  const struct arch *h = arch_host();
  return h && (a == h || (!strcmp(h->name, "amd64") && !strcmp(a->name, "i386")));
}

bool arch_is_32bit_on_host(const struct arch *a) {
  const struct arch *h = arch_host();
  return h && a != h && arch_is_native(a);
}

const char *arch_names(void) {
  return "amd64, arm64, armhf, riscv64, ppc64el, s390x, i386";
}

const char *qemu_unusable(const char *path) {
  if (access(path, X_OK) < 0) return "is not an executable file";
  cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
  ElfW(Ehdr) eh;
  if (fd < 0 || pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
      eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) || eh.e_phentsize != sizeof(ElfW(Phdr)))
    return "is not an ELF executable for this host";
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) ph;
    if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != sizeof ph) return "is not an ELF executable for this host";
    if (ph.p_type == PT_INTERP) return "is dynamically linked (its libraries are not inside the sandbox)";
  }
  return NULL;
}

char *qemu_find(const struct arch *a) {
  const char *dirs = getenv("CROSSROOT_QEMU_DIRS");
  if (!dirs) dirs = "/usr/bin:/usr/local/bin:/usr/libexec/qemu-binfmt:/usr/lib/qemu";
  cleanup_free char *copy = xstrdup(dirs);
  const char *suffixes[] = {"-static", ""};
  for (size_t s = 0; s < N_ELEMENTS(suffixes); s++) {
    char *save = NULL;
    cleanup_free char *list = xstrdup(copy);
    for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
      char *p = xasprintf("%s/qemu-%s%s", d, a->qemu, suffixes[s]);
      if (!qemu_unusable(p)) return p;
      free(p);
    }
  }
  return NULL;
}

void arch_binfmt_magic(const struct arch *a, char **magic, char **mask) {
  char path[128];
  snprintf(path, sizeof path, "/usr/lib/binfmt.d/qemu-%s.conf", a->qemu);
  cleanup_free char *conf = read_file_at(AT_FDCWD, path, NULL);
  /* :name:type:offset:magic:mask:interpreter:flags */
  if (conf && conf[0] == ':') {
    char *f[8] = {0};
    int n = 0;
    for (char *p = conf + 1; n < 8 && p; n++) {
      f[n] = p;
      p = strchr(p, ':');
      if (p) *p++ = 0;
    }
    if (n >= 5 && !strcmp(f[1], "M") && !f[2][0] && f[3][0] && f[4][0]) {
      *magic = xstrdup(f[3]);
      *mask = xstrdup(f[4]);
      return;
    }
  }
  *magic = xstrdup(a->magic);
  *mask = xstrdup(a->mask);
}
