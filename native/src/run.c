/* `run`: one-shot sandbox. Three processes, as in bubblewrap: the helper (stays outside the
 * pid namespace, forwards signals, returns the exit code), PID 1 of the sandbox (builds the
 * root, then reaps zombies and forwards signals), and the command. */
#include "cgroup.h"
#include "commands.h"
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

/* PID 1 of the new pid namespace. `alive` is a pipe whose write end only the parent holds. */
__attribute__((noreturn)) static void sandbox_init(const struct sandbox *sb, const sigset_t *mask, int alive, struct sandbox_cgroup *cg,
                                                   struct sandbox_net *net) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die_with_error("prctl(PR_SET_PDEATHSIG)");
  /* The parent may have died before PDEATHSIG was armed; then its end of the pipe is closed. */
  struct pollfd pfd = {.fd = alive, .events = POLLIN};
  if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLHUP)) _exit(125);
  /* In the limited cgroup before anything of the sandbox (the root, the command) is made. */
  cgroup_child_wait(cg);
  sandbox_setup_root(sb);
  sandbox_lock_mounts(sb, net);
  /* PID 1 is visible in the sandbox and holds what the caller left open (lock fds, directories
   * outside the rootfs) and the caller's environment; root inside could reach them through
   * /proc/1/fd and /proc/1/environ. Not dumpable, they need CAP_SYS_PTRACE over the host's
   * user namespace (where this mm was made). The command's exec makes it dumpable again. Not
   * before: the id mapper of the nested namespace writes /proc/1/uid_map, which a non-dumpable
   * process's /proc gives to the host's root; no other process is in the sandbox until now. */
  if (prctl(PR_SET_DUMPABLE, 0) < 0) die_with_error("prctl(PR_SET_DUMPABLE)");
  sigset_t fwd;
  forwarded_signals(&fwd);
  int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
  if (sigfd < 0) die_with_error("signalfd");
  /* A single-id map: PID 1 answers the command's chowns (owners.c), through the sandbox's /proc. */
  int sv[2] = {-1, -1}, procfd = -1;
  if (sb->single_map) {
    procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die_with_error("setting up the chown supervisor");
  }
  pid_t child = fork();
  if (child < 0) die_with_error("fork");
  if (child == 0) {
    struct sandbox cmd = *sb;
    if (sv[0] >= 0) close(sv[0]);
    cmd.owners_sock = sv[1];
    exec_command(&cmd, mask);
  }
  struct owners_supervisor owners = {.listener = -1};
  if (sv[0] >= 0) {
    close(sv[1]);
    owners_supervisor_start(&owners, sv[0], procfd);
  }
  _exit(wait_forwarding(child, sigfd, true, &owners));
}

int cmd_run(int argc, char **argv) {
  struct sandbox sb;
  sandbox_parse(&sb, argc, argv, OPT_SANDBOX | OPT_PROCESS | OPT_COMMAND);
  sandbox_validate(&sb);

  /* Blocked before the fork so no signal falls between two handlers; read through signalfd. */
  sigset_t fwd, orig;
  forwarded_signals(&fwd);
  if (sigprocmask(SIG_BLOCK, &fwd, &orig) < 0) die_with_error("sigprocmask");
  struct sandbox_net net;
  net_prepare(&sb, &net, false); /* from the host's namespaces, so before ours */
  sb.single_map = sandbox_unshare(&sb) == IDMAP_SINGLE;
  struct sandbox_cgroup cg;
  cgroup_prepare(&sb, &cg);

  int alive[2];
  if (pipe2(alive, O_CLOEXEC) < 0) die_with_error("pipe2");
  pid_t init = fork();
  if (init < 0) die_with_error("fork");
  if (init == 0) {
    close(alive[1]);
    net_child(&net);
    sandbox_init(&sb, &orig, alive[0], &cg, &net);
  }
  close(alive[0]);
  net_parent(&net);
  net_send_pid(&net, init);
  cgroup_add(&cg, init);
  int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC);
  if (sigfd < 0) die_with_error("signalfd");
  status_event("{\"event\":\"started\",\"pid\":%d}", init);
  int code = wait_forwarding(init, sigfd, false, NULL);
  /* PID 1 is reaped only after every other process of its namespace: the cgroup is empty. */
  cgroup_remove(&cg);
  net_finish(&net);
  status_event("{\"event\":\"exited\",\"code\":%d}", code);
  return code;
}
