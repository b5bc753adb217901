/* `check`: what this host allows, probed for real in throwaway child processes (a user
 * namespace, overlay and binfmt_misc inside it, the full id map), plus qemu and rootfs lookups.
 * Each check is {name, ok, required, detail, fix}; exit 0 when every required one passes. */
#include "commands.h"
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

struct check {
  const char *name;
  bool ok, required;
  char *detail, *fix;
};

/* Runs fn in a child with stderr silenced; returns its exit code (0 = worked, else an errno or
 * 125 when enter_userns gave up). */
static int probe(int (*fn)(void *), void *arg) {
  pid_t pid = fork();
  if (pid < 0) die_with_error("fork");
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) dup2(null, 2);
    _exit(fn(arg));
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return 125;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
}

static int try_userns(void *arg) {
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return errno;
  /* AppArmor's kernel.apparmor_restrict_unprivileged_userns lets the namespace be made but
   * withholds its capabilities: the first mount is where that shows. */
  return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ? errno : 0;
}

static int try_full_map(void *arg) {
  return enter_userns(IDMAP_FULL, 0) == IDMAP_FULL ? 0 : 1;
}

static int try_overlay(void *dir) {
  enter_userns(IDMAP_SINGLE, CLONE_NEWNS);
  const char *d = dir;
  cleanup_free char *opts = xasprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w,userxattr", d, d, d);
  cleanup_free char *target = xasprintf("%s/l", d);
  return mount("overlay", target, "overlay", 0, opts) < 0 ? errno : 0;
}

static int try_binfmt(void *dir) {
  enter_userns(IDMAP_SINGLE, CLONE_NEWNS);
  return mount("binfmt_misc", dir, "binfmt_misc", 0, NULL) < 0 ? errno : 0;
}

/* The three knobs distributions use to restrict user namespaces, as "name=value" or "name: absent". */
static char *userns_sysctls(void) {
  static const char *knobs[][2] = {
    {"kernel.unprivileged_userns_clone", "/proc/sys/kernel/unprivileged_userns_clone"},
    {"user.max_user_namespaces", "/proc/sys/user/max_user_namespaces"},
    {"kernel.apparmor_restrict_unprivileged_userns", "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"},
  };
  char *out = xstrdup("");
  for (size_t i = 0; i < N_ELEMENTS(knobs); i++) {
    cleanup_free char *v = read_file_at(AT_FDCWD, knobs[i][1], NULL);
    if (v) v[strcspn(v, "\n")] = 0;
    char *next = xasprintf("%s%s%s%s%s", out, i ? "; " : "", knobs[i][0], v ? "=" : ": absent", v ? v : "");
    free(out);
    out = next;
  }
  return out;
}

static char *make_scratch(void) {
  const char *tmp = getenv("TMPDIR");
  char *d = xasprintf("%s/crossroot-check.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(d)) die_with_error("creating a scratch dir in %s", tmp && *tmp ? tmp : "/tmp");
  const char *subs[] = {"l", "u", "w"};
  for (size_t i = 0; i < N_ELEMENTS(subs); i++) {
    cleanup_free char *p = xasprintf("%s/%s", d, subs[i]);
    mkdir(p, 0700);
  }
  return d;
}

static void remove_scratch(const char *d) {
  /* overlay may leave work/work (mode 000) behind. */
  const char *subs[] = {"w/work", "w/index", "l", "u", "w"};
  for (size_t i = 0; i < N_ELEMENTS(subs); i++) {
    cleanup_free char *p = xasprintf("%s/%s", d, subs[i]);
    chmod(p, 0700);
    rmdir(p);
  }
  rmdir(d);
}

static void print_json(struct check *c, size_t n, bool all_ok, const struct arch *arch) {
  printf("{\"ok\":%s,\"arch\":\"%s\",\"checks\":[", all_ok ? "true" : "false", arch ? arch->name : "");
  for (size_t i = 0; i < n; i++) {
    char d[2048], f[2048];
    json_escape(d, sizeof d, c[i].detail ? c[i].detail : "");
    json_escape(f, sizeof f, c[i].fix ? c[i].fix : "");
    printf("%s{\"name\":\"%s\",\"ok\":%s,\"required\":%s,\"detail\":\"%s\",\"fix\":\"%s\"}", i ? "," : "", c[i].name,
           c[i].ok ? "true" : "false", c[i].required ? "true" : "false", d, f);
  }
  printf("]}\n");
}

int cmd_check(int argc, char **argv) {
  const char *arch_name = NULL, *qemu = NULL, *rootfs = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = true;
    else if (i + 1 < argc && !strcmp(argv[i], "--arch")) arch_name = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--qemu")) qemu = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--rootfs")) rootfs = argv[++i];
    else die_code("EUSAGE", "usage: check [--arch ARCH] [--qemu PATH] [--rootfs DIR] [--json]", "unknown option '%s'", argv[i]);
  }
  const struct arch *arch = arch_name ? arch_lookup(arch_name) : arch_host();
  if (!arch) die_code("EARCH", xasprintf("use one of %s", arch_names()), "unknown architecture '%s'", arch_name);
  struct arch_support support;
  arch_support(arch, qemu, &support);
  /* binfmt matters when the kernel cannot run the arch itself (foreign, or i386 without ia32). */
  bool foreign = !support.native;
  struct utsname u;
  uname(&u);

  struct check c[8];
  size_t n = 0;

  int e = probe(try_userns, NULL);
  bool userns = e == 0;
  cleanup_free char *sysctls = userns_sysctls();
  c[n++] = (struct check){"userns", userns, true,
                          userns ? xasprintf("unprivileged user namespaces work (%s)", sysctls)
                                 : xasprintf("a user namespace with a mount in it: %s (%s)", strerror(e), sysctls),
                          userns ? NULL : xstrdup(userns_fix())};

  unsigned long us, un, gs, gn;
  bool range = subid_range("/etc/subuid", getuid(), &us, &un) && subid_range("/etc/subgid", getuid(), &gs, &gn);
  bool tools = find_newidmap("newuidmap") && find_newidmap("newgidmap");
  bool full = userns && range && tools && probe(try_full_map, NULL) == 0;
  c[n++] = (struct check){
      "idmap-full", full, false,
      full ? xasprintf("subordinate ids %lu-%lu mapped through newuidmap/newgidmap", us, us + un - 1)
      : !range ? xasprintf("no range for uid %u in /etc/subuid and /etc/subgid; envs get a single-uid map", (unsigned)getuid())
      : !tools ? xstrdup("newuidmap/newgidmap are not installed; envs get a single-uid map")
               : xstrdup("newuidmap/newgidmap refused the range; envs get a single-uid map"),
      full ? NULL
      : !range ? xstrdup("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER")
      : !tools ? xstrdup("sudo apt-get install uidmap (Fedora/Arch: shadow-utils / shadow)")
               : xstrdup("check that newuidmap/newgidmap are setuid root: ls -l $(command -v newuidmap newgidmap)")};

  cleanup_free char *scratch = make_scratch();
  e = userns ? probe(try_overlay, scratch) : EPERM;
  c[n++] = (struct check){"overlay", e == 0, true,
                          e == 0    ? xstrdup("overlayfs mounts inside a user namespace")
                          : !userns ? xstrdup("not probed: needs a user namespace")
                                    : xasprintf("overlay mount in a user namespace: %s (kernel %s)", strerror(e), u.release),
                          e == 0 || !userns ? NULL : xstrdup("use Linux 5.11 or later with overlayfs enabled, and keep the store on a local filesystem")};
  cleanup_free char *bdir = xasprintf("%s/l", scratch);
  e = userns ? probe(try_binfmt, bdir) : EPERM;
  remove_scratch(scratch);
  cleanup_free char *hostentry_path = xasprintf("/proc/sys/fs/binfmt_misc/qemu-%s", arch->qemu);
  cleanup_free char *hostentry = read_file_at(AT_FDCWD, hostentry_path, NULL);
  bool host_f = hostentry && !strncmp(hostentry, "enabled", 7) && strstr(hostentry, "\nflags: ") &&
                strchr(strstr(hostentry, "\nflags: ") + 8, 'F');
  c[n++] = (struct check){
      "binfmt", e == 0 || host_f || !foreign, foreign,
      e == 0     ? xasprintf("private binfmt_misc works (kernel %s)", u.release)
      : host_f   ? xasprintf("kernel %s has no private binfmt_misc, but the host registered qemu-%s with the F flag", u.release, arch->qemu)
      : !foreign ? xasprintf("not needed: %s runs natively", arch->name)
      : !userns  ? xstrdup("not probed: needs a user namespace")
                 : xasprintf("kernel %s cannot mount binfmt_misc in a user namespace (needs Linux 6.7): %s", u.release, strerror(e)),
      e == 0 || host_f || !foreign || !userns ? NULL
               : xasprintf("upgrade to Linux 6.7+, or register qemu on the host once: sudo apt-get install qemu-user-static "
                           "(ships /usr/lib/binfmt.d/qemu-%s.conf), then sudo systemctl restart systemd-binfmt", arch->qemu)};

  /* The same answer `arches --json` gives and `run` acts on (arch_support). */
  c[n++] = (struct check){"qemu", support.runs, !support.native, xstrdup(support.detail), support.fix ? xstrdup(support.fix) : NULL};
  arch_support_free(&support);
  if (rootfs) {
    struct stat st;
    bool ok = stat(rootfs, &st) == 0 && S_ISDIR(st.st_mode);
    c[n++] = (struct check){"rootfs", ok, true, ok ? xasprintf("%s is a directory", rootfs) : xasprintf("%s does not exist or is not a directory", rootfs),
                            ok ? NULL : xstrdup("build the env first (crossroot build), or check the --rootfs path")};
  }

  bool all_ok = true;
  for (size_t i = 0; i < n; i++) all_ok &= c[i].ok || !c[i].required;
  if (json) {
    print_json(c, n, all_ok, arch);
  } else {
    for (size_t i = 0; i < n; i++) {
      printf("%-5s %-10s %s\n", c[i].ok ? "ok" : c[i].required ? "FAIL" : "note", c[i].name, c[i].detail);
      if (!c[i].ok && c[i].fix) printf("      %-10s fix: %s\n", "", c[i].fix);
    }
  }
  for (size_t i = 0; i < n; i++) { free(c[i].detail); free(c[i].fix); }
  return all_ok ? 0 : 1;
}
