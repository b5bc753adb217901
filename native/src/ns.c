/* Namespaces of a sandbox: which ones, and the loopback device of a private network. */
#include "sandbox.h"
#include "util.h"
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

enum idmap_mode sandbox_unshare(const struct sandbox *sb) {
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (sb->network_none) flags |= CLONE_NEWNET;
  return enter_userns(sb->idmap, flags);
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
