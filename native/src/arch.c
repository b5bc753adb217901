/* Architecture table and qemu lookup (see arch.h). The magic/mask values are those of qemu's
 * scripts/qemu-binfmt-conf.sh, which Debian ships as /usr/lib/binfmt.d/qemu-*.conf. */
#include "arch.h"
#include "util.h"
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define ELF_MASK_LE "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"
#define ELF_MASK_X86 "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"
#define ELF_HDR(cls, data) "\\x7f\\x45\\x4c\\x46\\x" cls "\\x" data "\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"

static const struct arch arches[] = {
  {"amd64", {"x86_64", "x86-64", "x64"}, "x86_64", ELF_HDR("02", "01") "\\x02\\x00\\x3e\\x00", ELF_MASK_X86, "x86_64-linux-gnu"},
  {"arm64", {"aarch64", "arm64/v8", "armv8"}, "aarch64", ELF_HDR("02", "01") "\\x02\\x00\\xb7\\x00", ELF_MASK_LE, "aarch64-linux-gnu"},
  {"armhf", {"arm", "armv7", "armv7l", "arm/v7"}, "arm", ELF_HDR("01", "01") "\\x02\\x00\\x28\\x00", ELF_MASK_LE, "arm-linux-gnueabihf"},
  {"riscv64", {"riscv", "rv64"}, "riscv64", ELF_HDR("02", "01") "\\x02\\x00\\xf3\\x00", ELF_MASK_LE, "riscv64-linux-gnu"},
  {"ppc64el", {"ppc64le", "powerpc64le"}, "ppc64le", ELF_HDR("02", "01") "\\x02\\x00\\x15\\x00",
   "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\x00", "powerpc64le-linux-gnu"},
  {"s390x", {0}, "s390x", ELF_HDR("02", "02") "\\x00\\x02\\x00\\x16",
   "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff", "s390x-linux-gnu"},
  {"i386", {"x86", "i686", "i586", "386"}, "i386", ELF_HDR("01", "01") "\\x02\\x00\\x03\\x00", ELF_MASK_X86, "i686-linux-gnu"},
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

const char *qemu_dirs(void) {
  const char *dirs = getenv("CROSSROOT_QEMU_DIRS");
  return dirs ? dirs : "/usr/bin:/usr/local/bin:/usr/libexec/qemu-binfmt:/usr/lib/qemu";
}

/* The first usable qemu-<arch>-static, then qemu-<arch>, in qemu_dirs(). Without one, *why (when
 * asked for) says what was found and why it does not count, so no report has to guess. */
static char *qemu_search(const struct arch *a, char **why) {
  const char *suffixes[] = {"-static", ""};
  cleanup_free char *skipped = NULL;
  for (size_t s = 0; s < N_ELEMENTS(suffixes); s++) {
    char *save = NULL;
    cleanup_free char *list = xstrdup(qemu_dirs());
    for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
      char *p = xasprintf("%s/qemu-%s%s", d, a->qemu, suffixes[s]);
      const char *bad = qemu_unusable(p);
      if (!bad) return p;
      if (why && access(p, F_OK) == 0) {
        char *next = xasprintf("%s%s%s %s", skipped ? skipped : "", skipped ? "; " : "", p, bad);
        free(skipped);
        skipped = next;
      }
      free(p);
    }
  }
  if (why)
    *why = skipped ? xasprintf("no usable qemu-%s-static in %s: %s", a->qemu, qemu_dirs(), skipped)
                   : xasprintf("no qemu-%s-static in %s", a->qemu, qemu_dirs());
  return NULL;
}

char *qemu_find(const struct arch *a) {
  return qemu_search(a, NULL);
}

/* exit(42) as a 32-bit x86 ELF: ELF header, one PT_LOAD of the whole file at 0x08048000, and
 * xor ebx,ebx; mov bl,42; xor eax,eax; inc eax; int 0x80. */
static const unsigned char ia32_exit42[] = {
  0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  2, 0, 3, 0, 1, 0, 0, 0, 0x54, 0x80, 0x04, 0x08, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0x34, 0, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 0,
  1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x04, 0x08, 0, 0x80, 0x04, 0x08, 0x5d, 0, 0, 0, 0x5d, 0, 0, 0, 5, 0, 0, 0, 0, 0x10, 0, 0,
  0x31, 0xdb, 0xb3, 0x2a, 0x31, 0xc0, 0x40, 0xcd, 0x80,
};

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* Runs the tiny 32-bit program from a memfd: a kernel without ia32 emulation (CONFIG_IA32_EMULATION
 * off, or ia32_emulation=false on its command line) fails the exec with ENOEXEC. Anything that keeps
 * the probe from running at all (no memfd, a noexec policy) counts as the usual kernel. */
static bool kernel_runs_ia32(void) {
  static int known = -1;
  if (known >= 0) return known;
  const char *assume = getenv("CROSSROOT_ASSUME_NO_IA32");
  if (assume && *assume && strcmp(assume, "0")) return (known = 0);
  int fd = memfd_create("crossroot-ia32-probe", MFD_CLOEXEC | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("crossroot-ia32-probe", MFD_CLOEXEC);
  if (fd < 0) return (known = 1);
  if (write(fd, ia32_exit42, sizeof ia32_exit42) != (ssize_t)sizeof ia32_exit42) {
    close(fd);
    return (known = 1);
  }
  pid_t pid = fork();
  if (pid == 0) {
    char *argv[] = {"crossroot-ia32-probe", NULL}, *envp[] = {NULL};
    syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    _exit(errno == ENOEXEC ? 1 : 2);
  }
  close(fd);
  int st;
  while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return (known = !(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1));
}

bool arch_kernel_runs(const struct arch *a) {
  const struct arch *h = arch_host();
  if (!h || !arch_is_native(a)) return false;
  return a == h || kernel_runs_ia32();
}

char *arch_binfmt_rule(const struct arch *a, const char *qemu) {
  cleanup_free char *magic = NULL, *mask = NULL;
  arch_binfmt_magic(a, &magic, &mask);
  /* O: qemu gets the binary as an fd (works for unreadable, execute-only files);
   * P: argv[0] is preserved; F: the interpreter is opened at registration, while the host path
   * is visible (after pivot_root it is not). */
  return xasprintf(":qemu-%s:M::%s:%s:%s:OPF", a->qemu, magic, mask, qemu);
}

void arch_support(const struct arch *a, const char *qemu, struct arch_support *s) {
  const struct arch *h = arch_host();
  struct utsname u;
  uname(&u);
  *s = (struct arch_support){.native = arch_kernel_runs(a)};
  if (a == h) {
    s->runs = true;
    s->detail = xasprintf("%s runs natively on this %s host", a->name, u.machine);
    return;
  }
  cleanup_free char *why = NULL;
  if (qemu) {
    const char *bad = qemu_unusable(qemu);
    if (bad) why = xasprintf("%s %s", qemu, bad);
    else s->qemu = xstrdup(qemu);
  } else {
    s->qemu = qemu_search(a, &why);
  }
  s->runs = s->native || s->qemu;
  if (s->qemu) s->binfmt = arch_binfmt_rule(a, s->qemu);
  bool ia32 = arch_is_32bit_on_host(a);
  if (s->native)
    s->detail = s->qemu ? xasprintf("%s runs natively on this %s host (%s is registered behind the kernel's own loader, for kernels that refuse 32-bit binaries)", a->name, u.machine, s->qemu)
                        : xasprintf("%s runs natively on this %s host", a->name, u.machine);
  else if (s->qemu)
    s->detail = ia32 ? xasprintf("this kernel refuses 32-bit x86 binaries (ia32 emulation is off); %s runs them", s->qemu)
                     : xasprintf("%s runs %s binaries", s->qemu, a->name);
  else
    s->detail = ia32 ? xasprintf("this kernel refuses 32-bit x86 binaries (ia32 emulation is off), and %s", why)
                     : xstrdup(why);
  if (!s->runs) s->fix = QEMU_PACKAGE_FIX;
}

void arch_support_free(struct arch_support *s) {
  free(s->qemu);
  free(s->binfmt);
  free(s->detail);
}

const struct arch *arch_at(size_t i) {
  return i < N_ELEMENTS(arches) ? &arches[i] : NULL;
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
