/* The CPU architectures the helper can run, their names (Debian's plus aliases), what
 * `uname -m` says, the qemu-user interpreter and the ELF magic/mask binfmt_misc matches on. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct arch {
  const char *name;       /* Debian name: amd64, arm64, ... */
  const char *aliases[5]; /* uname -m, OCI and other spellings */
  const char *qemu;       /* qemu-<qemu>-static */
  const char *magic;      /* binfmt_misc escapes, as in /usr/lib/binfmt.d/qemu-*.conf */
  const char *mask;
  const char *triplet; /* GNU triplet of Debian's cross toolchains for it (gcc-N-TRIPLET) */
};

/* By name or alias (case-insensitive); NULL when unknown. */
const struct arch *arch_lookup(const char *name);
const struct arch *arch_host(void);
/* True when the host CPU runs this arch without qemu (i386 on amd64). */
bool arch_is_native(const struct arch *a);
/* True for a 32-bit arch run natively by a 64-bit host (i386 on amd64): such a process needs
 * the PER_LINUX32 personality, as `linux32`/`setarch` give it, so uname reports i686. */
bool arch_is_32bit_on_host(const struct arch *a);
/* Comma-separated list of known names, for error messages. */
const char *arch_names(void);

/* The dirs searched for qemu: $CROSSROOT_QEMU_DIRS (colon-separated) or the usual ones. */
const char *qemu_dirs(void);
/* Finds qemu-<arch>-static (or qemu-<arch>) in CROSSROOT_QEMU_DIRS (colon-separated) or the
 * usual Debian/Fedora/Arch directories, skipping dynamically linked ones (qemu_usable). Returns
 * a malloc'd path or NULL. */
char *qemu_find(const struct arch *a);
/* NULL when path can serve as the sandbox's interpreter: executable and statically linked (no
 * PT_INTERP), since its libraries are out of sight after pivot_root. Else why not. */
const char *qemu_unusable(const char *path);
/* The package to install, for fix-its. */
#define QEMU_PACKAGE_FIX "install qemu-user-static (Debian/Ubuntu: sudo apt-get install qemu-user-static; Fedora: sudo dnf install qemu-user-static; Arch: sudo pacman -S qemu-user-static)"

/* Magic and mask for a; read from /usr/lib/binfmt.d/qemu-<qemu>.conf when it exists (so distro
 * fixes apply), the built-in table otherwise. Returns malloc'd strings. */
void arch_binfmt_magic(const struct arch *a, char **magic, char **mask);

/* True when the kernel runs a's binaries itself: the host arch, and i386 on an amd64 host unless
 * its ia32 emulation is off (probed once by running a tiny 32-bit program;
 * CROSSROOT_ASSUME_NO_IA32=1 makes it answer no, so tests reach the qemu path on any kernel). */
bool arch_kernel_runs(const struct arch *a);
/* The binfmt_misc register line the sandbox writes for running a's binaries through qemu. */
char *arch_binfmt_rule(const struct arch *a, const char *qemu);

/* What this host can do for an arch: the one answer `arches`, `check` and the sandbox share. */
struct arch_support {
  bool native;    /* the kernel runs it (arch_kernel_runs) */
  bool runs;      /* natively or through qemu */
  char *qemu;     /* usable interpreter (the given one or the one found), NULL if none */
  char *binfmt;   /* register line for qemu, NULL without one */
  char *detail;   /* one sentence for users */
  const char *fix;/* NULL when it runs */
};
/* qemu: an explicit --qemu, or NULL to search. Free with arch_support_free. */
void arch_support(const struct arch *a, const char *qemu, struct arch_support *s);
void arch_support_free(struct arch_support *s);
/* The i-th known arch, NULL past the end. */
const struct arch *arch_at(size_t i);
