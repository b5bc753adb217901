/* What one sandbox is made of (rootfs, overlay, arch, binds, process), parsed once from argv by
 * run/start/exec, and the steps that build it: ns.c (namespaces), mount.c (new root),
 * binfmt.c (private qemu registration), exec.c (the command and the init that reaps it). */
#pragma once
#include <stdbool.h>
#include <signal.h>
#include <sys/types.h>
#include "arch.h"
#include "idmap.h"

struct sandbox_net;

struct bind {
  const char *source, *target;
  bool readonly;
};

struct sandbox {
  const char *rootfs, *upper, *work;
  /* Read-only layers stacked on the rootfs, bottom first (--lower, repeatable): a built env is
   * its base image plus one layer per setup step, shared between envs with the same steps. */
  const char **lowers;
  size_t n_lowers;
  const struct arch *arch; /* foreign arch to run through qemu; NULL = runs natively */
  const struct arch *env_arch; /* the env's arch as asked for (host when not given) */
  const char *qemu;        /* interpreter path when arch is foreign */
  bool linux32;            /* a 32-bit arch the 64-bit host runs natively (i386 on amd64) */
  bool binfmt_fallback;    /* qemu is registered only behind the kernel's own loader (i386 on an
                            * ia32-capable amd64 kernel): failing to register it is not an error */
  struct bind *binds;
  size_t n_binds;
  const char *hostname;
  enum network_mode { NETWORK_HOST, NETWORK_NONE, NETWORK_PRIVATE } network;
  const char *slirp;       /* slirp4netns for NETWORK_PRIVATE */
  enum idmap_mode idmap;
  const char *state_dir;   /* start / exec / stop */
  unsigned idle_exit;      /* start: seconds without any process but PID 1 before it exits; 0 = never */
  unsigned long long memory_max; /* bytes for memory.max of the sandbox's cgroup; 0 = no limit */
  unsigned long long pids_max;   /* pids.max; 0 = no limit */
  /* The process. */
  const char *cwd;
  const char *user;        /* --user UID[:GID] or NAME[:GROUP]; NULL = root */
  const char **env;        /* K=V overrides, in order */
  size_t n_env;
  int *keep_fds;
  size_t n_keep_fds;
  char **argv;             /* after "--"; NULL-terminated */
  /* Set up by run/exec, not from argv. */
  bool single_map;         /* the sandbox's user namespace maps only root (owners.c applies) */
  int owners_sock;         /* the command's end of the socket to the chown supervisor; -1 = none */
};

/* owners.c: the chown supervisor of a single-id map (PID 1 of run, or the exec client). */
struct seccomp_notif;
struct seccomp_notif_resp;
struct owners_supervisor {
  int listener;            /* seccomp listener fd; -1 when there is none (or no longer) */
  int procfd;              /* a /proc of the supervisor's own pid namespace */
  struct seccomp_notif *req;
  struct seccomp_notif_resp *resp;
  size_t req_size, resp_size;
};

/* Which options a subcommand takes. */
enum {
  OPT_SANDBOX = 1 << 0, /* --rootfs --lower --upper --work --arch --qemu --bind --hostname --network --idmap --memory --pids */
  OPT_PROCESS = 1 << 1, /* --cwd --user --env --status-fd --keep-fd */
  OPT_STATE = 1 << 2,   /* --state */
  OPT_COMMAND = 1 << 3, /* -- CMD [ARGS...] required */
  OPT_INSTANCE = 1 << 4, /* --idle-exit */
};
/* Parses argv (after the subcommand name) into sb; dies with EUSAGE on bad input. */
void sandbox_parse(struct sandbox *sb, int argc, char **argv, unsigned allowed);
/* Checks what can be checked on the host before any namespace exists: rootfs, overlay dirs,
 * arch and qemu, bind sources. Dies with a fix-it. */
void sandbox_validate(struct sandbox *sb);

/* ns.c: enters the outer user + mount + pid namespaces; the next fork() is PID 1. */
enum idmap_mode sandbox_unshare(const struct sandbox *sb);
/* ns.c: after pivot_root, PID 1 enters a nested user namespace (identity map over the outer
 * one) with new mount, uts, ipc (and net) namespaces: the kernel locks every mount's flags and
 * place, so nothing that runs later can make a read-only bind writable or uncover what lies
 * below a mount. Brings up lo (and slirp4netns on a private network) and sets the hostname. */
void sandbox_lock_mounts(const struct sandbox *sb, struct sandbox_net *net);
/* net.c: --network private. The pipes between PID 1 and slirp4netns, which a host-side process
 * forked before the unshare becomes once PID 1 has made its network namespace. */
struct sandbox_net {
  pid_t spawner;          /* the process that becomes slirp4netns; -1 without a private network */
  int pid_w;              /* whoever forked PID 1 sends PID 1's host pid here */
  int go_w;               /* PID 1: written once its network namespace exists */
  int ready_r, ready_w;   /* slirp4netns --ready-fd: "1" once the tap is up */
  int exit_w;             /* held by PID 1 alone for its lifetime; slirp4netns --exit-fd */
};
/* Finds slirp4netns and checks /dev/net/tun for a private network; dies with a fix-it. */
void net_validate(struct sandbox *sb);
/* In the host's namespaces, before the unshare: forks the slirp4netns-to-be (detach: for an
 * instance, whose network outlives `start`). A no-op unless the network is private. */
void net_prepare(const struct sandbox *sb, struct sandbox_net *n, bool detach);
/* Right after forking PID 1: in PID 1 (net_child), in the forking process (net_parent, then
 * net_send_pid with PID 1's pid as this process sees it, when it knows it). */
void net_child(struct sandbox_net *n);
void net_parent(struct sandbox_net *n);
void net_send_pid(struct sandbox_net *n, pid_t init);
/* In PID 1 once its network namespace exists: starts slirp4netns on it, waits for the tap. */
void net_attach(struct sandbox_net *n);
/* run: after PID 1 has been reaped, ends and reaps slirp4netns. */
void net_finish(struct sandbox_net *n);
/* resolv.conf for a private network: slirp4netns's DNS, the host's search and options. */
char *net_resolv_conf(void);

/* ns.c: brings up lo in a fresh network namespace. */
void loopback_up(void);

/* mount.c: builds the new root from inside the new pid namespace and pivots into it. */
void sandbox_setup_root(const struct sandbox *sb);

/* binfmt.c: registers sb->qemu for sb->arch in this user namespace's binfmt_misc, mounted at
 * binfmt_dir. Falls back to a host F-flag registration on kernels without private binfmt_misc. */
void binfmt_register(const struct sandbox *sb, const char *binfmt_dir);

/* exec.c: the sandboxed command, as the last step in a fresh child. Never returns. */
__attribute__((noreturn)) void exec_command(const struct sandbox *sb, const sigset_t *restore_mask);
/* user.c: switches to --user spec (resolved in the env's /etc/passwd and /etc/group, checked
 * against the id map) with its supplementary groups; *home gets its home directory ("/" for a
 * uid not in passwd). Dies with EUSER / EUSERMAP. Call as root inside, after pivot_root. */
void user_switch(const char *spec, const char **home);
/* owners.c: in the command, last before exec: a seccomp filter that hands every chown to the
 * supervisor, whose listener fd goes over sock. */
void owners_filter_install(int sock);
/* owners.c: in the supervisor: receives the listener from sock (false when the command failed
 * before sending it). procfd: a /proc whose pids are those of the supervisor's pid namespace. */
bool owners_supervisor_start(struct owners_supervisor *s, int sock, int procfd);
/* owners.c: answers one pending chown (listener readable); false when the listener broke. */
bool owners_supervisor_handle(struct owners_supervisor *s);
void owners_supervisor_stop(struct owners_supervisor *s);
/* exec.c: signals the helper forwards to the sandbox; blocked in the helper, read via signalfd. */
void forwarded_signals(sigset_t *set);
/* exec.c: whether a signal read from a signalfd should be passed on (not one the tty already
 * sent to the whole foreground group, except hangup). */
bool should_forward(int signo, int si_code);
/* exec.c: forwards signals read from sigfd to child until it exits; returns its exit code
 * (128+n when killed by signal n). As PID 1 (reap_all) it also reaps every other zombie. With
 * owners (may be NULL) it also answers the command's chowns meanwhile. */
int wait_forwarding(pid_t child, int sigfd, bool reap_all, struct owners_supervisor *owners);
/* exec.c: marks every fd >= 3 close-on-exec except keep[] (which are made inheritable). */
void close_fds_on_exec(const int *keep, size_t n_keep);
/* Exit code of a wait status: code, or 128+signal. */
int exit_code_of(int status);
