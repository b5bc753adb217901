/* The sandboxed process and the init that watches it: environment, working directory, fd
 * hygiene, exec; signal forwarding and zombie reaping for PID 1. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void forwarded_signals(sigset_t *set) {
  sigemptyset(set);
  int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
  for (size_t i = 0; i < N_ELEMENTS(sigs); i++) sigaddset(set, sigs[i]);
}

/* Keys typed at the terminal (^C, ^\) already reach every process of the foreground group,
 * the sandboxed one included; passing them on again would deliver them twice. A hangup is
 * always passed on: the kernel sends it only to the session leader, which may be us. */
bool should_forward(int signo, int si_code) {
  return signo != SIGCHLD && (si_code != SI_KERNEL || signo == SIGHUP);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}

int wait_forwarding(pid_t child, int sigfd, bool reap_all, struct owners_supervisor *owners) {
  for (;;) {
    if (owners && owners->listener >= 0) {
      struct pollfd p[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = owners->listener, .events = POLLIN}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        die_with_error("poll");
      }
      /* A broken listener, or none left to ask (every filtered process gone): stop answering;
       * a later chown then fails with ENOSYS instead of hanging. */
      if (p[1].revents & POLLIN) {
        if (!owners_supervisor_handle(owners)) owners_supervisor_stop(owners);
      } else if (p[1].revents) {
        owners_supervisor_stop(owners);
      }
      if (!(p[0].revents & POLLIN)) continue;
    }
    struct signalfd_siginfo si;
    ssize_t n = read(sigfd, &si, sizeof si);
    if (n < 0 && errno == EINTR) continue;
    if (n != sizeof si) die_with_error("reading signals");
    if (si.ssi_signo != SIGCHLD) {
      if (should_forward((int)si.ssi_signo, si.ssi_code)) kill(child, (int)si.ssi_signo);
      continue;
    }
    int status;
    pid_t p;
    while ((p = waitpid(reap_all ? -1 : child, &status, WNOHANG)) > 0)
      if (p == child) return exit_code_of(status);
    if (p < 0 && errno == ECHILD) return 125;
  }
}

void close_fds_on_exec(const int *keep, size_t n_keep) {
  /* Walk the gaps between the (unsorted, few) kept fds from 3 upwards. */
  unsigned lo = 3;
  for (;;) {
    unsigned next = ~0U;
    for (size_t i = 0; i < n_keep; i++)
      if ((unsigned)keep[i] >= lo && (unsigned)keep[i] < next) next = (unsigned)keep[i];
    if (next > lo && close_range(lo, next - 1, CLOSE_RANGE_CLOEXEC) < 0) die_with_error("close_range");
    if (next == ~0U) break;
    int fl = fcntl((int)next, F_GETFD);
    if (fl >= 0) fcntl((int)next, F_SETFD, fl & ~FD_CLOEXEC);
    lo = next + 1;
  }
}

/* The command shares the caller's terminal, and TIOCSTI (or TIOCLINUX on a VT) would let it
 * type commands into the shell that reads the terminal once the sandbox is gone (bubblewrap's
 * CVE-2017-5226). Job control needs that terminal, so instead of setsid() both ioctls fail with
 * EPERM, for every syscall ABI the host kernel runs natively; qemu's ioctls are the host's. */
static void deny_terminal_injection(void) {
  static const struct { unsigned arch, nr; } ioctls[] = {
#if defined(__x86_64__)
    {AUDIT_ARCH_X86_64, 16}, {AUDIT_ARCH_X86_64, 0x40000000 | 514 /* x32 */}, {AUDIT_ARCH_I386, 54},
#elif defined(__aarch64__)
    {AUDIT_ARCH_AARCH64, 29}, {AUDIT_ARCH_ARM, 54},
#else
#error "add this host's audit arch and ioctl syscall numbers"
#endif
  };
  struct sock_filter f[8 * N_ELEMENTS(ioctls) + 1];
  size_t n = 0;
  for (size_t i = 0; i < N_ELEMENTS(ioctls); i++) {
    /* One block per (arch, syscall): a mismatch jumps to the next block. */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ioctls[i].arch, 0, 6);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ioctls[i].nr, 0, 4);
    /* The request is an unsigned int: the low word of args[1] (little-endian hosts above). */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 1, 0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  }
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) die_with_error("installing the seccomp filter");
}

static char **build_env(const struct sandbox *sb, const char *home) {
  /* A clean environment: the host's variables (LD_*, PATH entries, XDG dirs) describe the host,
   * not the env. TERM is kept so terminals keep working; the rest comes from --env. */
  size_t n = 0, cap = sb->n_env + 5;
  char **env = xcalloc(cap, sizeof *env);
  env[n++] = "PATH=" DEFAULT_PATH;
  env[n++] = xasprintf("HOME=%s", home);
  const char *term = getenv("TERM");
  if (term) env[n++] = xasprintf("TERM=%s", term);
  for (size_t i = 0; i < sb->n_env; i++) {
    size_t klen = (size_t)(strchr(sb->env[i], '=') - sb->env[i]) + 1;
    size_t j;
    for (j = 0; j < n && strncmp(env[j], sb->env[i], klen); j++) {}
    env[j] = (char *)sb->env[i];
    if (j == n) n++;
  }
  env[n] = NULL;
  return env;
}

static const char *env_get(char **env, const char *key) {
  size_t k = strlen(key);
  for (; *env; env++)
    if (!strncmp(*env, key, k) && (*env)[k] == '=') return *env + k + 1;
  return NULL;
}

void exec_command(const struct sandbox *sb, const sigset_t *restore_mask) {
  /* The sandbox dies with whoever waits for it: no orphan keeps running after its client. */
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_with_error("prctl(PR_SET_PDEATHSIG)");
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  if (sigprocmask(SIG_SETMASK, restore_mask, NULL) < 0) die_with_error("sigprocmask");
  if (sb->linux32 && personality(PER_LINUX32) < 0) die_with_error("personality(PER_LINUX32)");
  const char *home = "/root";
  if (sb->user) {
    user_switch(sb->user, &home);
    /* A change of credentials clears the parent-death signal: arm it again, then check that the
     * parent did not die in between (the signal would never come). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_with_error("prctl(PR_SET_PDEATHSIG)");
    if (getppid() != parent) _exit(125);
  }
  /* After the switch, so that entering it is checked against the user's own permissions. */
  const char *cwd = sb->cwd ? sb->cwd : "/";
  if (chdir(cwd) < 0)
    die_code("ECWD", "create the directory in the env or pick another --cwd", "cannot enter working directory %s: %s", cwd,
             strerror(errno));
  char **env = build_env(sb, home);
  close_fds_on_exec(sb->keep_fds, sb->n_keep_fds);
  /* Last, so that nothing of the helper's own setup goes through it. */
  if (sb->owners_sock >= 0) owners_filter_install(sb->owners_sock);
  deny_terminal_injection();
  const char *path = env_get(env, "PATH");
  /* execvpe() would search the helper's own PATH; the env's PATH is the one that counts. */
  environ = env;
  execvp(sb->argv[0], sb->argv);
  int e = errno;
  if (e == ENOENT)
    die_code_status(127, "ENOCMD", "install it in the env, or give the full path", "%s: command not found in the sandbox (PATH=%s)",
                    sb->argv[0], path ? path : "");
  die_code_status(126, "ENOEXEC", e == ENOEXEC ? "is it built for the env's architecture?" : NULL, "cannot run %s: %s",
                  sb->argv[0], strerror(e));
}
