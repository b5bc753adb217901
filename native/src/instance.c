/* `start` / `exec` / `stop`: one long-lived sandbox per env whose PID 1 only reaps zombies,
 * joined by any number of commands. The state file names PID 1 by pid *and* start time, and
 * every use goes through a pidfd checked against that start time, so a recycled pid is never
 * joined or killed. */
#include "cgroup.h"
#include "commands.h"
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>

#define STATE_FILE "instance.json"

struct instance {
  pid_t pid;
  unsigned long long starttime;
  int pidfd;
  const struct arch *arch; /* NULL when the state names none this helper knows */
  char cgroup[4096];       /* the instance's cgroup directory (limits); "" for none */
};

#define STATE_FIX_OWN "use a state dir of your own (crossroot makes them 0700 in its store): one that another user made " \
  "or can write may name processes and cgroups for crossroot to kill and remove"

/* The state dir, opened without following a symlink and checked the way the keeper's is: a
 * directory the caller owns that nobody else may write or enter. Everything in it is then
 * opened relative to this fd, with O_NOFOLLOW. -1 when it does not exist and create is false. */
static int open_state_dir(const char *dir, bool create) {
  if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) die_with_error("creating state dir %s", dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && !create) return -1;
  if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
    die_code("ESTATE", STATE_FIX_OWN, "state dir %s is a symlink or not a directory", dir);
  if (fd < 0) die_with_error("opening state dir %s", dir);
  struct stat st;
  if (fstat(fd, &st) < 0) die_with_error("state dir %s", dir);
  if (st.st_uid != getuid())
    die_code("ESTATE", STATE_FIX_OWN, "state dir %s belongs to uid %u, not to you (uid %u)", dir, (unsigned)st.st_uid,
             (unsigned)getuid());
  if (st.st_mode & 077)
    die_code("ESTATE", xasprintf("chmod 700 %s if it is yours and nobody else wrote to it; otherwise remove it and let crossroot make it", dir),
             "state dir %s has mode %04o: other users may write or enter it", dir, (unsigned)(st.st_mode & 07777));
  return fd;
}

/* instance.json as text: a regular file of sane size, not a link to one elsewhere. */
static char *read_state_file(int dirfd, const char *dir) {
  cleanup_fd int fd = openat(dirfd, STATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == ENOENT) return NULL;
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 65536)
    die_code("ESTATE", xasprintf("remove %s/%s", dir, STATE_FILE), "%s/%s is not a state file crossroot wrote (%s)", dir,
             STATE_FILE, fd < 0 ? strerror(errno) : "not a small regular file");
  char *text = xmalloc((size_t)st.st_size + 1);
  ssize_t n = read(fd, text, (size_t)st.st_size);
  text[n > 0 ? n : 0] = 0;
  return text;
}

/* Whether pid (pinned by a pidfd) is what `start` leaves running: a process of the caller's
 * that is PID 1 of a pid namespace of its own ("NSpid:" ends in 1 after the host's pid). A pid
 * and start time alone would let a forged instance.json aim exec and stop at any process. */
static bool is_instance_init(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  cleanup_free char *status = read_file_at(AT_FDCWD, path, NULL);
  const char *uid = status ? strstr(status, "\nUid:") : NULL, *nspid = status ? strstr(status, "\nNSpid:") : NULL;
  unsigned long r, e;
  if (!uid || !nspid || sscanf(uid + 5, "%lu %lu", &r, &e) != 2 || r != getuid() || e != getuid()) return false;
  const char *end = strchr(nspid + 1, '\n');
  int levels = 0;
  unsigned long last = 0;
  for (const char *p = nspid + 7; p && (!end || p < end);) {
    char *next;
    unsigned long v = strtoul(p, &next, 10);
    if (next == p) break;
    levels++;
    last = v;
    p = next;
  }
  return levels >= 2 && last == 1;
}

/* Opens the instance recorded in the state dir. Returns false (and removes the state file) when
 * it is gone: no file, dead pid, or a pid that now belongs to another process. */
static bool instance_open(int dirfd, const char *dir, struct instance *in) {
  cleanup_free char *text = read_state_file(dirfd, dir);
  if (!text) return false;
  const char *p = strstr(text, "\"pid\":"), *s = strstr(text, "\"starttime\":");
  in->pid = p ? (pid_t)strtol(p + 6, NULL, 10) : 0;
  in->starttime = s ? strtoull(s + 12, NULL, 10) : 0;
  char arch[32] = "";
  const char *a = strstr(text, "\"arch\":\"");
  if (a) sscanf(a + 8, "%31[^\"]", arch);
  in->arch = arch_lookup(arch);
  in->cgroup[0] = 0;
  const char *cg = strstr(text, "\"cgroup\":\"");
  if (cg) sscanf(cg + 10, "%4095[^\"]", in->cgroup);
  /* Only a sandbox cgroup of the caller's is ever joined or removed. */
  if (in->cgroup[0] && !cgroup_is_sandbox_dir(in->cgroup)) {
    char c[4096];
    json_escape(c, sizeof c, in->cgroup);
    fprintf(stderr, "%s: warning: %s/%s names cgroup %s, which is not a crossroot cgroup of yours: left alone\n", prog_name, dir,
            STATE_FILE, in->cgroup);
    status_event("{\"event\":\"warning\",\"code\":\"ESTATE\",\"message\":\"instance.json names cgroup %s, which is not a crossroot "
                 "cgroup of yours: left alone\",\"fix\":\"remove the state file if you did not write it\"}", c);
    in->cgroup[0] = 0;
  }
  in->pidfd = in->pid > 1 ? pidfd_open(in->pid, 0) : -1;
  /* Checked after pinning the pid, start time last: if it still matches, the pidfd is the process
   * whose status was read, and that is an instance's PID 1. */
  if (in->pidfd >= 0 && in->starttime && is_instance_init(in->pid) && proc_starttime(in->pid) == in->starttime) return true;
  if (in->pidfd >= 0) close(in->pidfd);
  in->pidfd = -1;
  /* An instance that ended on its own (idle exit, killed) left its empty cgroup behind. */
  if (in->cgroup[0]) cgroup_remove_dir(in->cgroup);
  unlinkat(dirfd, STATE_FILE, 0);
  return false;
}

static int lock_state_dir(int dirfd, const char *dir) {
  int fd = openat(dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0 && errno == ELOOP) die_code("ESTATE", xasprintf("remove %s/lock", dir), "%s/lock is a symlink", dir);
  if (fd < 0) die_with_error("opening %s/lock", dir);
  if (flock(fd, LOCK_EX) < 0) die_with_error("locking %s/lock", dir);
  return fd;
}

static bool alone_in_namespace(void) {
  DIR *d = opendir("/proc");
  if (!d) return false;
  bool alone = true;
  struct dirent *e;
  while (alone && (e = readdir(d)))
    alone = !(e->d_name[0] >= '0' && e->d_name[0] <= '9') || !strcmp(e->d_name, "1");
  closedir(d);
  return alone;
}

/* PID 1 of an instance: reaps whatever is reparented to it until told to stop, or until it has
 * been alone for --idle-exit seconds. */
__attribute__((noreturn)) static void instance_init(const struct sandbox *sb, int ready, struct sandbox_cgroup *cg, struct sandbox_net *net) {
  cgroup_child_wait(cg);
  sandbox_setup_root(sb);
  sandbox_lock_mounts(sb, net);
  sigset_t set;
  sigemptyset(&set);
  int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < N_ELEMENTS(sigs); i++) sigaddset(&set, sigs[i]);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) die_with_error("sigprocmask");
  if (write_all(ready, "R", 1) < 0) die_with_error("reporting readiness");
  /* Ready: nothing of the caller's (terminal, pipes, status fd) stays open in a daemon. */
  status_fd = -1;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; fd++)
    if (null < 0 || dup2(null, fd) < 0) _exit(125);
  /* Except the pipe whose other end slirp4netns watches: it must close when PID 1 ends. */
  if (net->exit_w >= 0 && net->exit_w != 3 && dup3(net->exit_w, 3, O_CLOEXEC) < 0) _exit(125);
  if (close_range(net->exit_w >= 0 ? 4 : 3, ~0U, 0) < 0) _exit(125);
  /* Every process of the env can read /proc/1/environ, and exec must find this PID 1 dumpable
   * (it reads /proc/1/ns); the caller's environment (tokens, agent sockets) is wiped instead. */
  for (char **e = environ; *e; e++) memset(*e, 0, strlen(*e));
  int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sigfd < 0) _exit(125);
  /* Idle check: PID 1 sees only its own pid namespace in /proc; a process other than itself
   * means someone is still working in the env. */
  int timer = -1;
  if (sb->idle_exit) {
    timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    unsigned period = sb->idle_exit < 5 ? sb->idle_exit : 5;
    struct itimerspec its = {.it_interval = {period, 0}, .it_value = {period, 0}};
    if (timer < 0 || timerfd_settime(timer, 0, &its, NULL) < 0) _exit(125);
  }
  struct timespec idle_since = {0};
  for (;;) {
    struct pollfd p[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = timer, .events = POLLIN}};
    if (poll(p, timer >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(125);
    }
    if (timer >= 0 && (p[1].revents & POLLIN)) {
      uint64_t ticks;
      if (read(timer, &ticks, sizeof ticks) != sizeof ticks) _exit(125);
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (!alone_in_namespace()) idle_since.tv_sec = 0;
      else if (!idle_since.tv_sec) idle_since = now;
      else if ((unsigned)(now.tv_sec - idle_since.tv_sec) + 1 >= sb->idle_exit) _exit(0);
    }
    if (!(p[0].revents & POLLIN)) continue;
    struct signalfd_siginfo si;
    if (read(sigfd, &si, sizeof si) != sizeof si) {
      if (errno == EINTR) continue;
      _exit(125);
    }
    if (si.ssi_signo == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {}
    } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      _exit(0); /* PID 1 leaving takes the whole pid namespace with it */
    }
  }
}

int cmd_start(int argc, char **argv) {
  struct sandbox sb;
  sandbox_parse(&sb, argc, argv, OPT_SANDBOX | OPT_STATE | OPT_INSTANCE);
  sandbox_validate(&sb);
  cleanup_fd int dirfd = open_state_dir(sb.state_dir, true);
  int lock = lock_state_dir(dirfd, sb.state_dir);
  struct instance old;
  if (instance_open(dirfd, sb.state_dir, &old))
    die_code("EBUSY", xasprintf("join it with exec --state %s, or stop it first", sb.state_dir),
             "an instance (pid %d) is already running for %s", old.pid, sb.state_dir);
  struct sandbox_cgroup cg;
  cgroup_prepare(&sb, &cg);
  struct sandbox_net net;
  net_prepare(&sb, &net, true);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) die_with_error("pipe2");
  pid_t mid = fork();
  if (mid < 0) die_with_error("fork");
  if (mid == 0) {
    /* The instance outlives this command: its own session, no controlling terminal; the
     * middle process exits at once so PID 1's parent becomes the host's reaper. */
    close(pipefd[0]);
    if (setsid() < 0) die_with_error("setsid");
    sandbox_unshare(&sb);
    pid_t init = fork();
    if (init < 0) die_with_error("fork");
    if (init == 0) {
      net_child(&net);
      instance_init(&sb, pipefd[1], &cg, &net);
    }
    cgroup_add(&cg, init);
    if (write_all(pipefd[1], &init, sizeof init) < 0) die_with_error("reporting the instance pid");
    _exit(0);
  }
  close(pipefd[1]);
  cgroup_close(&cg);
  net_parent(&net);
  int st;
  while (waitpid(mid, &st, 0) < 0)
    if (errno != EINTR) die_with_error("waitpid");
  pid_t pid = 0;
  char ready = 0;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || read(pipefd[0], &pid, sizeof pid) != sizeof pid) {
    cgroup_remove(&cg);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 125; /* the middle process already said why */
  }
  net_send_pid(&net, pid);
  /* Readiness, or EOF when PID 1 died during setup (it reported the error itself). */
  while (read(pipefd[0], &ready, 1) < 0 && errno == EINTR) {}
  if (ready != 'R') {
    cgroup_remove(&cg);
    return 125;
  }
  unsigned long long starttime = proc_starttime(pid);
  char rootfs[4096], arch[64], cgroup[4096];
  json_escape(rootfs, sizeof rootfs, sb.rootfs);
  json_escape(arch, sizeof arch, sb.env_arch ? sb.env_arch->name : "");
  json_escape(cgroup, sizeof cgroup, cg.dir ? cg.dir : "");
  cleanup_free char *json = xasprintf("{\"pid\":%d,\"starttime\":%llu,\"arch\":\"%s\",\"rootfs\":\"%s\"%s%s%s}\n", pid, starttime, arch,
                                      rootfs, cg.dir ? ",\"cgroup\":\"" : "", cgroup, cg.dir ? "\"" : "");
  const char *tmp = STATE_FILE ".tmp";
  int r = unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT ? -errno : 0;
  cleanup_fd int fd = r < 0 ? -1 : openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write_all(fd, json, strlen(json)) < 0 || fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, STATE_FILE) < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    cgroup_remove(&cg);
    errno = e;
    die_with_error("writing %s/%s", sb.state_dir, STATE_FILE);
  }
  close(lock);
  status_event("{\"event\":\"started\",\"pid\":%d}", pid);
  printf("{\"event\":\"started\",\"pid\":%d}\n", pid);
  return 0;
}

/* Namespaces of the instance that differ from ours (setns refuses to "join" our own user
 * namespace, and a shared host network namespace needs no joining). */
static int namespaces_to_join(pid_t pid) {
  static const struct { const char *name; int flag; } ns[] = {
    {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
    {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
  };
  int flags = 0;
  for (size_t i = 0; i < N_ELEMENTS(ns); i++) {
    char theirs[64], ours[64];
    snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", pid, ns[i].name);
    snprintf(ours, sizeof ours, "/proc/self/ns/%s", ns[i].name);
    struct stat a, b;
    if (stat(theirs, &a) < 0) die_with_error("reading %s", theirs);
    if (stat(ours, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) flags |= ns[i].flag;
  }
  return flags;
}

/* Whether the instance's user namespace maps a single id (read from the host's side). */
static bool single_id_map(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  cleanup_free char *map = read_file_at(AT_FDCWD, path, NULL);
  unsigned long long total = 0, a, b, n;
  char *save = NULL;
  for (char *line = map ? strtok_r(map, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
    if (sscanf(line, "%llu %llu %llu", &a, &b, &n) == 3) total += n;
  return total == 1;
}

int cmd_exec(int argc, char **argv) {
  struct sandbox sb;
  sandbox_parse(&sb, argc, argv, OPT_PROCESS | OPT_STATE | OPT_COMMAND);
  /* A client whose terminal or editor died goes with it, and so does its command (which dies
   * with the client); the second getppid() catches a parent that died while this was armed. */
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_with_error("prctl(PR_SET_PDEATHSIG)");
  if (getppid() != parent) return 125;
  struct instance in;
  int dirfd = open_state_dir(sb.state_dir, false);
  bool running = dirfd >= 0 && instance_open(dirfd, sb.state_dir, &in);
  if (dirfd >= 0) close(dirfd); /* a host directory: nothing of it may reach the joined child */
  if (!running)
    die_code("ENOINSTANCE", "start it first: crossroot-helper start --state DIR --rootfs ...", "no running instance in %s",
             sb.state_dir);
  sb.linux32 = in.arch && arch_is_32bit_on_host(in.arch);
  /* Opened before joining the instance's user namespace, with the caller's credentials. */
  struct sandbox_cgroup cg = {.parent_fd = -1, .procs_fd = -1, .go = {-1, -1}};
  if (in.cgroup[0]) cgroup_join(in.cgroup, &cg);
  int flags = namespaces_to_join(in.pid);
  /* A single-id map: this client answers its command's chowns (owners.c). Its pid namespace is
   * the host's (only its children enter the instance's), so it reads the host's /proc, opened
   * before joining the instance's mount namespace, and checked to be of our pid namespace. */
  int sv[2] = {-1, -1}, procfd = -1;
  if (single_id_map(in.pid)) {
    char self[32] = "", want[32];
    procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ssize_t n = procfd >= 0 ? readlinkat(procfd, "self", self, sizeof self - 1) : -1;
    if (n > 0) self[n] = 0;
    snprintf(want, sizeof want, "%d", getpid());
    if (n > 0 && !strcmp(self, want)) {
      if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die_with_error("setting up the chown supervisor");
    } else if (procfd >= 0) {
      close(procfd); /* a /proc of another pid namespace: chowns fail as the kernel says */
      procfd = -1;
    }
  }
  sigset_t fwd, orig;
  forwarded_signals(&fwd);
  if (sigprocmask(SIG_BLOCK, &fwd, &orig) < 0) die_with_error("sigprocmask");
  if (setns(in.pidfd, flags) < 0) die_with_error("joining the namespaces of instance %d", in.pid);
  close(in.pidfd);
  /* The host user's supplementary groups mean nothing inside; drop them when the map allows. */
  (void)setgroups(0, NULL);
  int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
  if (sigfd < 0) die_with_error("signalfd");
  /* The child is in the instance's pid namespace from its first instruction, holding our fds
   * until its execve: not dumpable, no process of the env may ptrace it or open /proc/N/fd
   * (as for run's PID 1). The execve makes the command dumpable again. */
  if (prctl(PR_SET_DUMPABLE, 0) < 0) die_with_error("prctl(PR_SET_DUMPABLE)");
  /* vfork when nothing must happen between the child's start and its execve: no copy of our page
   * tables to make and free again, the largest part of a join's cost in the helper (issue 7's
   * benchmark holds a join to half a bwrap start). exec_command() only _exits or execs, allocates
   * from a heap we do not touch until it is done, and of our globals sets only `environ` (put
   * back below). A cgroup to join first (the child waits for us) or a chown supervisor to hand a
   * listener to need fork. */
  char **our_environ = environ;
  pid_t child = !in.cgroup[0] && sv[0] < 0 ? vfork() : fork();
  if (child > 0) environ = our_environ;
  if (child < 0) {
    if (errno == ENOMEM) die_code("ENOINSTANCE", "start it again", "instance %d stopped while joining it", in.pid);
    die_with_error("fork");
  }
  if (child == 0) {
    cgroup_child_wait(&cg);
    if (sv[0] >= 0) close(sv[0]);
    sb.owners_sock = sv[1];
    exec_command(&sb, &orig);
  }
  cgroup_add(&cg, child);
  status_event("{\"event\":\"joined\",\"pid\":%d}", child);
  struct owners_supervisor owners = {.listener = -1};
  if (sv[0] >= 0) {
    close(sv[1]);
    owners_supervisor_start(&owners, sv[0], procfd);
  }
  int code = wait_forwarding(child, sigfd, false, &owners);
  status_event("{\"event\":\"exited\",\"code\":%d}", code);
  return code;
}

int cmd_stop(int argc, char **argv) {
  struct sandbox sb;
  sandbox_parse(&sb, argc, argv, OPT_STATE);
  cleanup_fd int dirfd = open_state_dir(sb.state_dir, false);
  cleanup_fd int lock = dirfd < 0 ? -1 : lock_state_dir(dirfd, sb.state_dir);
  struct instance in;
  if (dirfd < 0 || !instance_open(dirfd, sb.state_dir, &in)) {
    status_event("{\"event\":\"stopped\",\"stale\":true}");
    return 0;
  }
  if (pidfd_send_signal(in.pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) die_with_error("killing instance %d", in.pid);
  /* The pidfd turns readable once PID 1 has exited, which the kernel allows only after every
   * other process of its pid namespace is gone. */
  struct pollfd p = {.fd = in.pidfd, .events = POLLIN};
  int r;
  while ((r = poll(&p, 1, 10000)) < 0 && errno == EINTR) {}
  if (r == 0) die_code("ESTOP", "look for stuck processes (state D) of this env", "instance %d did not exit within 10 s", in.pid);
  unlinkat(dirfd, STATE_FILE, 0);
  if (in.cgroup[0]) cgroup_remove_dir(in.cgroup);
  status_event("{\"event\":\"stopped\",\"pid\":%d}", in.pid);
  return 0;
}
