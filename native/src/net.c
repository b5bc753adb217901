/* --network private: the sandbox's own network namespace with outbound access through
 * slirp4netns, as rootless podman does. slirp4netns must run in the host's namespaces (its
 * sockets are the host's) and attach to the sandbox's network namespace, which PID 1 creates
 * only after the root is built (it belongs to the nested user namespace, see ns.c). So a
 * process forked before the helper's own unshare waits for PID 1's host pid and for word that
 * the namespace exists, then becomes slirp4netns. Its lifetime is PID 1's: PID 1 holds the only
 * write end of the pipe slirp4netns watches with --exit-fd. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define SLIRP_FIX "install slirp4netns: sudo apt-get install slirp4netns (Fedora, Arch: slirp4netns), or use network \"none\" or \"host\""

/* Found in the system's directories only, like newuidmap: the user's PATH is not consulted for
 * a program that gets the sandbox's network namespace. */
static const char *find_slirp(void) {
  static const char *paths[] = {"/usr/bin/slirp4netns", "/bin/slirp4netns", "/usr/local/bin/slirp4netns", "/usr/sbin/slirp4netns"};
  for (size_t i = 0; i < N_ELEMENTS(paths); i++)
    if (access(paths[i], X_OK) == 0) return paths[i];
  return NULL;
}

void net_validate(struct sandbox *sb) {
  if (sb->network != NETWORK_PRIVATE) return;
  if (!(sb->slirp = find_slirp())) die_code("ENETWORK", SLIRP_FIX, "--network private needs slirp4netns, which is not installed");
  /* slirp4netns opens the tap device as the calling user; 0666 is its usual mode. */
  if (access("/dev/net/tun", R_OK | W_OK) < 0)
    die_code("ENETWORK",
             "let users open it, as most distributions do: sudo chmod 0666 /dev/net/tun (udev: KERNEL==\"tun\", MODE=\"0666\"); "
             "or use network \"none\" or \"host\"",
             "--network private needs /dev/net/tun, which you may not open: %s", strerror(errno));
}

static void pipe_or_die(int p[2]) {
  if (pipe2(p, O_CLOEXEC) < 0) die_with_error("pipe2");
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* The host-side process: waits for PID 1's host pid and its go, then execs slirp4netns. */
__attribute__((noreturn)) static void spawner(const struct sandbox *sb, int pid_r, int go_r, int ready_w, int exit_r, bool detach) {
  if (!detach) prctl(PR_SET_PDEATHSIG, SIGKILL);
  pid_t target;
  char go;
  if (read(pid_r, &target, sizeof target) != sizeof target || read(go_r, &go, 1) != 1) _exit(0);
  /* An instance's network outlives `start`: its own session, no terminal. */
  if (detach) setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; fd++)
    if (null < 0 || dup2(null, fd) < 0) _exit(1); /* slirp4netns chats on stdout and stderr */
  /* Only the two pipes reach slirp4netns: a status fd or the caller's pipes held open by a
   * long-lived daemon would keep whoever reads them waiting for EOF. */
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0 || fcntl(ready_w, F_SETFD, 0) < 0 || fcntl(exit_r, F_SETFD, 0) < 0) _exit(1);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  char pid[16], ready[32], exit_fd[32];
  snprintf(pid, sizeof pid, "%d", target);
  snprintf(ready, sizeof ready, "--ready-fd=%d", ready_w);
  snprintf(exit_fd, sizeof exit_fd, "--exit-fd=%d", exit_r);
  /* podman's defaults: a large MTU for throughput, no way to the host's loopback (10.0.2.2 would
   * lead there), its own mount namespace and a seccomp filter for slirp4netns itself. */
  char *argv[] = {(char *)sb->slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
                  ready, exit_fd, pid, "tap0", NULL};
  execv(argv[0], argv);
  _exit(127);
}

void net_prepare(const struct sandbox *sb, struct sandbox_net *n, bool detach) {
  *n = (struct sandbox_net){.spawner = -1, .pid_w = -1, .go_w = -1, .ready_r = -1, .ready_w = -1, .exit_w = -1};
  if (sb->network != NETWORK_PRIVATE) return;
  int pid[2], go[2], ready[2], exit_p[2];
  pipe_or_die(pid);
  pipe_or_die(go);
  pipe_or_die(ready);
  pipe_or_die(exit_p);
  n->spawner = fork();
  if (n->spawner < 0) die_with_error("fork");
  if (n->spawner == 0) {
    close(pid[1]);
    close(go[1]);
    close(ready[0]);
    close(exit_p[1]);
    spawner(sb, pid[0], go[0], ready[1], exit_p[0], detach);
  }
  close(pid[0]);
  close(go[0]);
  close(exit_p[0]);
  n->pid_w = pid[1];
  n->go_w = go[1];
  n->ready_r = ready[0];
  n->ready_w = ready[1];
  n->exit_w = exit_p[1];
}

void net_child(struct sandbox_net *n) {
  close_fd(&n->pid_w);
  close_fd(&n->ready_w); /* so that a slirp4netns that dies early means EOF here */
}

void net_parent(struct sandbox_net *n) {
  close_fd(&n->go_w);
  close_fd(&n->ready_r);
  close_fd(&n->ready_w);
  close_fd(&n->exit_w);
}

void net_send_pid(struct sandbox_net *n, pid_t init) {
  if (n->pid_w < 0) return;
  if (write_all(n->pid_w, &init, sizeof init) < 0) die_with_error("starting slirp4netns");
  close_fd(&n->pid_w);
}

void net_attach(struct sandbox_net *n) {
  if (n->go_w < 0) return;
  if (write_all(n->go_w, "G", 1) < 0) die_with_error("starting slirp4netns");
  close_fd(&n->go_w);
  char c = 0;
  ssize_t r;
  while ((r = read(n->ready_r, &c, 1)) < 0 && errno == EINTR) {}
  if (r != 1 || c != '1')
    die_code("ENETWORK", "run `slirp4netns --configure PID tap0` on a test namespace (unshare -Urn) to see why, or use network \"none\" or \"host\"",
             "slirp4netns could not set up the sandbox's private network");
  close_fd(&n->ready_r);
}

void net_finish(struct sandbox_net *n) {
  if (n->spawner <= 0) return;
  /* PID 1 is gone, so slirp4netns has seen its exit fd close; it is our child and unreaped, so
   * the pid is still its own. Killed for good measure, reaped so nothing outlives `run`. */
  kill(n->spawner, SIGKILL);
  while (waitpid(n->spawner, NULL, 0) < 0 && errno == EINTR) {}
  n->spawner = -1;
}

char *net_resolv_conf(void) {
  /* slirp4netns answers DNS at 10.0.2.3 and asks the host's resolvers, loopback ones (systemd-
   * resolved's 127.0.0.53) included, which the env could not reach itself. search and options
   * lines stay as the host has them. */
  cleanup_free char *host = read_file_at(AT_FDCWD, "/etc/resolv.conf", NULL);
  size_t cap = (host ? strlen(host) : 0) + 64, o = 0;
  char *out = xmalloc(cap);
  o += (size_t)snprintf(out, cap, "nameserver 10.0.2.3\n");
  for (char *line = host ? strtok(host, "\n") : NULL; line; line = strtok(NULL, "\n"))
    if (strncmp(line, "nameserver", 10)) o += (size_t)snprintf(out + o, cap - o, "%s\n", line);
  return out;
}
