/* Sandbox options: one parser for run/start/exec so they accept the same spelling, and the
 * host-side checks that turn a typo into a fix-it before any namespace exists. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static struct bind parse_bind(const char *spec) {
  /* SRC:DST[:ro]; paths with ':' cannot be expressed, which is said plainly. */
  char *s = xstrdup(spec);
  struct bind b = {.source = s};
  char *c = strchr(s, ':');
  if (!c) die_code("EUSAGE", "write --bind SRC:DST or --bind SRC:DST:ro", "bad --bind '%s'", spec);
  *c = 0;
  b.target = c + 1;
  c = strchr(c + 1, ':');
  if (c) {
    *c = 0;
    if (strcmp(c + 1, "ro") && strcmp(c + 1, "rw"))
      die_code("EUSAGE", "the only bind options are :ro and :rw", "bad --bind option '%s' in '%s'", c + 1, spec);
    b.readonly = !strcmp(c + 1, "ro");
  }
  if (!*b.source || b.target[0] != '/')
    die_code("EUSAGE", "the target must be an absolute path inside the sandbox", "bad --bind '%s'", spec);
  return b;
}

/* A cgroup limit: a positive whole number (0 would stop the sandbox from running at all). */
static unsigned long long parse_limit(const char *opt, const char *v, const char *fix) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (v[0] < '0' || v[0] > '9' || *end || errno || n == 0) die_code("EUSAGE", fix, "bad %s '%s'", opt, v);
  return n;
}

void sandbox_parse(struct sandbox *sb, int argc, char **argv, unsigned allowed) {
  memset(sb, 0, sizeof *sb);
  sb->owners_sock = -1;
  sb->idmap = IDMAP_AUTO;
  const char *arch = NULL, *network = NULL;
  int i;
  for (i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--")) { i++; break; }
    if (o[0] != '-' ) die_code("EUSAGE", "put the command after --", "unexpected argument '%s'", o);
    if (i + 1 >= argc) die_code("EUSAGE", NULL, "%s needs a value", o);
    const char *v = argv[++i];
    unsigned need = 0;
#define OPT(name, kind) (!strcmp(o, name) && (need = kind))
    if (OPT("--rootfs", OPT_SANDBOX)) sb->rootfs = v;
    else if (OPT("--lower", OPT_SANDBOX)) {
      sb->lowers = xrealloc(sb->lowers, (sb->n_lowers + 1) * sizeof *sb->lowers);
      sb->lowers[sb->n_lowers++] = v;
    } else if (OPT("--upper", OPT_SANDBOX)) sb->upper = v;
    else if (OPT("--work", OPT_SANDBOX)) sb->work = v;
    else if (OPT("--arch", OPT_SANDBOX)) arch = v;
    else if (OPT("--qemu", OPT_SANDBOX)) sb->qemu = v;
    else if (OPT("--hostname", OPT_SANDBOX)) sb->hostname = v;
    else if (OPT("--network", OPT_SANDBOX)) network = v;
    else if (OPT("--idmap", OPT_SANDBOX)) sb->idmap = parse_idmap_mode(v);
    else if (OPT("--memory", OPT_SANDBOX)) sb->memory_max = parse_limit(o, v, "give a whole number of bytes, e.g. 536870912 for 512 MiB");
    else if (OPT("--pids", OPT_SANDBOX)) sb->pids_max = parse_limit(o, v, "give the most processes and threads the sandbox may have, e.g. 512");
    else if (OPT("--bind", OPT_SANDBOX)) {
      sb->binds = xrealloc(sb->binds, (sb->n_binds + 1) * sizeof *sb->binds);
      sb->binds[sb->n_binds++] = parse_bind(v);
    } else if (OPT("--state", OPT_STATE)) sb->state_dir = v;
    else if (OPT("--idle-exit", OPT_INSTANCE)) {
      char *end;
      unsigned long secs = strtoul(v, &end, 10);
      if (!*v || *end || secs > 86400 * 365) die_code("EUSAGE", "give a number of seconds", "bad --idle-exit '%s'", v);
      sb->idle_exit = (unsigned)secs;
    }
    else if (OPT("--cwd", OPT_PROCESS)) sb->cwd = v;
    else if (OPT("--user", OPT_PROCESS)) {
      const char *c = strchr(v, ':');
      if (!*v || c == v || (c && (!c[1] || strchr(c + 1, ':'))))
        die_code("EUSAGE", "write --user UID[:GID] or --user NAME[:GROUP], e.g. --user 1000:1000", "bad --user '%s'", v);
      sb->user = v;
    }
    else if (OPT("--env", OPT_PROCESS)) {
      if (!strchr(v, '=') || v[0] == '=') die_code("EUSAGE", "write --env NAME=VALUE", "bad --env '%s'", v);
      sb->env = xrealloc(sb->env, (sb->n_env + 1) * sizeof *sb->env);
      sb->env[sb->n_env++] = v;
    } else if (!strcmp(o, "--status-fd")) status_fd = parse_fd_arg(o, v); /* every subcommand reports */
    else if (OPT("--keep-fd", OPT_PROCESS)) {
      sb->keep_fds = xrealloc(sb->keep_fds, (sb->n_keep_fds + 1) * sizeof *sb->keep_fds);
      sb->keep_fds[sb->n_keep_fds++] = parse_fd_arg(o, v);
    } else die_code("EUSAGE", "see crossroot-helper --help", "unknown option '%s'", o);
#undef OPT
    if (need && !(allowed & need)) die_code("EUSAGE", "see crossroot-helper --help", "%s does not take %s", argv[0], o);
  }
  sb->argv = i < argc ? argv + i : NULL;
  if ((allowed & OPT_COMMAND) && !sb->argv)
    die_code("EUSAGE", "add the command after --, e.g. -- /bin/sh", "%s needs a command", argv[0]);
  if (!(allowed & OPT_COMMAND) && sb->argv && argv[i])
    die_code("EUSAGE", NULL, "%s takes no command", argv[0]);
  if ((allowed & OPT_SANDBOX) && !sb->rootfs) die_code("EUSAGE", "add --rootfs DIR", "%s needs --rootfs", argv[0]);
  if ((allowed & OPT_STATE) && !sb->state_dir) die_code("EUSAGE", "add --state DIR", "%s needs --state", argv[0]);
  if (!sb->upper != !sb->work) die_code("EUSAGE", "give both --upper DIR and --work DIR", "an overlay needs both upper and work dirs");
  if (network && strcmp(network, "host") && strcmp(network, "none") && strcmp(network, "private"))
    die_code("EUSAGE", "use --network host, none or private", "unknown network mode '%s'", network);
  sb->network = !network || !strcmp(network, "host") ? NETWORK_HOST : !strcmp(network, "none") ? NETWORK_NONE : NETWORK_PRIVATE;
  if (arch) {
    sb->arch = arch_lookup(arch);
    if (!sb->arch) die_code("EARCH", xasprintf("use one of %s", arch_names()), "unknown architecture '%s'", arch);
  }
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void sandbox_validate(struct sandbox *sb) {
  sb->env_arch = sb->arch ? sb->arch : arch_host();
  if (!is_dir(sb->rootfs))
    die_code("ENOROOTFS", "build the env first (crossroot build), or check the --rootfs path",
             "rootfs %s does not exist or is not a directory", sb->rootfs);
  for (size_t i = 0; i < sb->n_lowers; i++) {
    if (strpbrk(sb->lowers[i], ",:"))
      die_code("EUSAGE", "move the directory to a path without ',' or ':'", "overlay path %s contains ',' or ':'", sb->lowers[i]);
    if (!is_dir(sb->lowers[i]))
      die_code("ENOROOTFS", "rebuild the env (crossroot build)", "layer %s does not exist or is not a directory", sb->lowers[i]);
  }
  if (sb->upper) {
    /* overlayfs takes ',' and ':' as separators in its options. */
    const char *dirs[] = {sb->rootfs, sb->upper, sb->work};
    for (size_t i = 0; i < N_ELEMENTS(dirs); i++) {
      if (strpbrk(dirs[i], ",:"))
        die_code("EUSAGE", "move the directory to a path without ',' or ':'", "overlay path %s contains ',' or ':'", dirs[i]);
      if (i > 0 && !is_dir(dirs[i]) && mkdir(dirs[i], 0755) < 0)
        die_code("EOVERLAY", "create the directory, on the same filesystem for upper and work", "cannot create overlay dir %s: %s",
                 dirs[i], strerror(errno));
    }
  }
  net_validate(sb);
  for (size_t i = 0; i < sb->n_binds; i++)
    if (access(sb->binds[i].source, F_OK) < 0)
      die_code("EBIND", "create it first or fix the path", "bind source %s does not exist", sb->binds[i].source);
  if (sb->arch && !arch_is_native(sb->arch)) {
    if (sb->qemu) {
      const char *why = qemu_unusable(sb->qemu);
      if (why) die_code("ENOQEMU", QEMU_PACKAGE_FIX, "qemu interpreter %s for %s %s", sb->qemu, sb->arch->name, why);
    } else if (!(sb->qemu = qemu_find(sb->arch))) {
      die_code("ENOQEMU", QEMU_PACKAGE_FIX, "no qemu-%s-static found to run %s binaries", sb->arch->qemu, sb->arch->name);
    }
  } else if (sb->arch && arch_is_32bit_on_host(sb->arch)) {
    /* i386 on amd64: `uname -m` must say i686. The kernel's own loader runs it unless its ia32
     * emulation is off; qemu-i386, registered behind that loader, covers such kernels (and is
     * never used by the others, whose loader matches first). */
    sb->linux32 = true;
    bool kernel = arch_kernel_runs(sb->arch);
    const char *why = sb->qemu ? qemu_unusable(sb->qemu) : NULL;
    if (why) die_code("ENOQEMU", QEMU_PACKAGE_FIX, "qemu interpreter %s for %s %s", sb->qemu, sb->arch->name, why);
    if (!sb->qemu) sb->qemu = qemu_find(sb->arch);
    if (!sb->qemu && !kernel)
      die_code("ENOQEMU", QEMU_PACKAGE_FIX, "this kernel refuses 32-bit x86 binaries (ia32 emulation is off) and no qemu-%s-static "
               "was found in %s to run them", sb->arch->qemu, qemu_dirs());
    sb->binfmt_fallback = kernel;
    if (!sb->qemu) sb->arch = NULL;
  } else {
    sb->arch = NULL; /* native: nothing to register */
  }
}
