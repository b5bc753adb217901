/* Namespaces of a sandbox, in two levels as in bubblewrap: the outer user namespace builds the
 * root (it may mount), the nested one is where PID 1 and every command live once the root is
 * done; the loopback device of a private network. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

enum idmap_mode sandbox_unshare(const struct sandbox *sb) {
  /* Only what building the root needs. UTS, IPC and the network belong to the nested user
   * namespace (sandbox_lock_mounts), so root inside keeps full rights over them (hostname,
   * ports below 1024, raw sockets). */
  return enter_userns(sb->idmap, CLONE_NEWNS | CLONE_NEWPID);
}

/* The current namespace's map (one of /proc/self/{uid,gid}_map) as seen from a child namespace
 * that keeps every id: "first first count" per line (each extent must fall inside one extent of
 * the parent's map). *self_writable: a single id, which a process may map for itself. */
static void identity_map(const char *file, char *out, size_t len, bool *self_writable) {
  cleanup_free char *text = read_file_at(AT_FDCWD, file, NULL);
  if (!text) die_with_error("reading %s", file);
  size_t o = 0, lines = 0;
  unsigned long first, lower, count = 0;
  int n;
  for (const char *p = text; sscanf(p, "%lu %lu %lu%n", &first, &lower, &count, &n) == 3; p += n, lines++) {
    int w = snprintf(out + o, len - o, "%lu %lu %lu\n", first, first, count);
    if (w < 0 || (size_t)w >= len - o) die("%s has too many lines", file);
    o += (size_t)w;
  }
  if (!lines) die("%s is empty", file);
  *self_writable = lines == 1 && count == 1 && first == 0;
}

void sandbox_lock_mounts(const struct sandbox *sb, struct sandbox_net *net) {
  char uids[1024], gids[1024];
  bool uid_self, gid_self;
  identity_map("/proc/self/uid_map", uids, sizeof uids, &uid_self);
  identity_map("/proc/self/gid_map", gids, sizeof gids, &gid_self);
  int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (sb->network != NETWORK_HOST ? CLONE_NEWNET : 0);
  if (uid_self && gid_self) {
    /* A single map (0 = the caller): we may write "0 0 1" ourselves, as bubblewrap does; the
     * parent already denies setgroups, which the child inherits and we say again. */
    if (unshare(CLONE_NEWUSER | flags) < 0) die_with_error("creating the sandbox's nested user namespace");
    int r = write_file_at(AT_FDCWD, "/proc/self/uid_map", uids);
    if (r == 0) r = write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny");
    if (r == 0) r = write_file_at(AT_FDCWD, "/proc/self/gid_map", gids);
    if (r < 0) {
      errno = -r;
      die_with_error("writing the id maps of the sandbox's nested user namespace");
    }
  } else {
    /* A range: only a process that stays in this namespace, with CAP_SETUID there, may map it. */
    int r = unshare_mapped(flags, uids, gids);
    if (r < 0) {
      errno = -r;
      die_with_error("creating the sandbox's nested user namespace");
    }
  }
  /* The mounts came from a more privileged user namespace: the kernel has locked their flags
   * and their place in the tree (MNT_LOCK_*), here and in every namespace copied from this one. */
  if (sb->network != NETWORK_HOST) loopback_up();
  net_attach(net);
  if (sb->hostname && sethostname(sb->hostname, strlen(sb->hostname)) < 0) die_with_error("sethostname");
}

/* A new network namespace has only lo, and it is down; programs expect localhost to work. */
void loopback_up(void) {
  cleanup_fd int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die_with_error("socket");
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die_with_error("reading flags of lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die_with_error("bringing up lo");
}
