/* chown in a single-id map. There only root (0) exists inside, and the kernel refuses a chown to
 * any other id with EINVAL, so dpkg (root:adm log dirs, setgid games …) and tar -p fail. As
 * Apptainer's fakeroot does, a seccomp filter catches the chown family; unlike it, the owner is
 * not dropped but recorded in the same user.crossroot.owner xattr ("uid:gid:mode") the unpacker
 * writes for layers unpacked under a single map, so the env's files say who should own them.
 *
 * The filter returns SECCOMP_RET_USER_NOTIF: the syscall waits until the supervisor — PID 1 of
 * a `run` sandbox, or the `exec` client — has handled it. The supervisor has the same
 * credentials as root inside (it is root of the same user namespace, or of its parent), opens
 * the target file itself from the caller's root, cwd or fd (through /proc/TID/…), performs the
 * part of the chown the map allows (ids 0 and -1), records the rest and answers. What it can do
 * is what the caller could do anyway: set a user.* xattr and chown to root. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#define OWNER_XATTR "user.crossroot.owner" /* the record unpack.c writes for single-map layers */
#define ID_UNCHANGED 0xffffffffu           /* -1: "leave this id as it is" */
#define CONTINUE (-0x10000)                 /* not an errno: let the kernel run the syscall as the caller */

enum chown_kind {
  CHOWN_PATH,  /* chown(path, uid, gid): follows a final symlink */
  CHOWN_LPATH, /* lchown(path, uid, gid) */
  CHOWN_FD,    /* fchown(fd, uid, gid) */
  CHOWN_AT,    /* fchownat(dirfd, path, uid, gid, flags) */
};

/* Every chown of every syscall ABI the host kernel runs: qemu-user makes the host syscall for a
 * foreign binary, so these are what the filter sees for every env arch. */
static const struct chown_call {
  unsigned arch, nr;
  enum chown_kind kind;
  bool ids16; /* the old 16-bit-id calls: 0xffff means unchanged */
} chown_calls[] = {
#if defined(__x86_64__)
#define X32 0x40000000u
  {AUDIT_ARCH_X86_64, 92, CHOWN_PATH, false}, {AUDIT_ARCH_X86_64, 93, CHOWN_FD, false},
  {AUDIT_ARCH_X86_64, 94, CHOWN_LPATH, false}, {AUDIT_ARCH_X86_64, 260, CHOWN_AT, false},
  {AUDIT_ARCH_X86_64, X32 | 92, CHOWN_PATH, false}, {AUDIT_ARCH_X86_64, X32 | 93, CHOWN_FD, false},
  {AUDIT_ARCH_X86_64, X32 | 94, CHOWN_LPATH, false}, {AUDIT_ARCH_X86_64, X32 | 260, CHOWN_AT, false},
  {AUDIT_ARCH_I386, 16, CHOWN_LPATH, true}, {AUDIT_ARCH_I386, 95, CHOWN_FD, true},
  {AUDIT_ARCH_I386, 182, CHOWN_PATH, true}, {AUDIT_ARCH_I386, 198, CHOWN_LPATH, false},
  {AUDIT_ARCH_I386, 207, CHOWN_FD, false}, {AUDIT_ARCH_I386, 212, CHOWN_PATH, false},
  {AUDIT_ARCH_I386, 298, CHOWN_AT, false},
#elif defined(__aarch64__)
  {AUDIT_ARCH_AARCH64, 54, CHOWN_AT, false}, {AUDIT_ARCH_AARCH64, 55, CHOWN_FD, false},
  {AUDIT_ARCH_ARM, 16, CHOWN_LPATH, true}, {AUDIT_ARCH_ARM, 95, CHOWN_FD, true},
  {AUDIT_ARCH_ARM, 182, CHOWN_PATH, true}, {AUDIT_ARCH_ARM, 198, CHOWN_LPATH, false},
  {AUDIT_ARCH_ARM, 207, CHOWN_FD, false}, {AUDIT_ARCH_ARM, 212, CHOWN_PATH, false},
  {AUDIT_ARCH_ARM, 325, CHOWN_AT, false},
#else
#error "add this host's audit arches and chown syscall numbers"
#endif
};

/* ---- in the command, right before exec ---------------------------------------------------- */

static int send_fd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t r;
  while ((r = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
  return r == 1 ? 0 : -1;
}

void owners_filter_install(int sock) {
  /* One block per (arch, syscall): a mismatch of either jumps to the next block. */
  struct sock_filter f[5 * N_ELEMENTS(chown_calls) + 1];
  size_t n = 0;
  for (size_t i = 0; i < N_ELEMENTS(chown_calls); i++) {
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, chown_calls[i].arch, 0, 3);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, chown_calls[i].nr, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
  }
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (listener < 0) {
    /* EBUSY: an outer sandbox already has a listener for us (crossroot in crossroot); its
     * answers stand. Then chown to a missing id fails as the kernel says. */
    if (errno != EBUSY) die_with_error("installing the chown filter");
    close(sock);
    return;
  }
  if (send_fd(sock, listener) < 0) die_with_error("handing the chown filter to the supervisor");
  close(listener);
  close(sock);
}

/* ---- in the supervisor -------------------------------------------------------------------- */

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t r;
  while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  if (r != 1) return -1; /* the command failed before installing the filter */
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

bool owners_supervisor_start(struct owners_supervisor *s, int sock, int procfd) {
  memset(s, 0, sizeof *s);
  s->procfd = procfd;
  s->listener = recv_fd(sock);
  close(sock);
  if (s->listener < 0) return false;
  struct seccomp_notif_sizes sizes;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) die_with_error("seccomp(SECCOMP_GET_NOTIF_SIZES)");
  /* The kernel's structs may be larger than our headers' (newer fields): use its sizes. */
  s->req_size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif : sizeof(struct seccomp_notif);
  s->resp_size = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sizes.seccomp_notif_resp : sizeof(struct seccomp_notif_resp);
  s->req = xcalloc(1, s->req_size);
  s->resp = xcalloc(1, s->resp_size);
  return true;
}

/* Reads a NUL-terminated string from the caller's memory, a page at a time (the string may end
 * right before an unmapped page). Returns 0 or -errno as the syscall would have failed. */
static int read_path(pid_t tid, uint64_t addr, char *buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    size_t page_left = 4096 - ((addr + got) & 4095);
    size_t want = page_left < size - got ? page_left : size - got;
    struct iovec local = {.iov_base = buf + got, .iov_len = want};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)(addr + got), .iov_len = want};
    ssize_t r = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (r <= 0) return r < 0 && errno == ESRCH ? -ESRCH : -EFAULT;
    if (memchr(buf + got, 0, (size_t)r)) return 0;
    got += (size_t)r;
  }
  return -ENAMETOOLONG;
}

/* Whether the caller holds CAP_CHOWN (in its own user namespace). Without it, the kernel's own
 * checks decide: a process that dropped the capability must not get a chown through us. */
static bool has_cap_chown(int procfd, pid_t tid) {
  char p[64];
  snprintf(p, sizeof p, "%d/status", tid);
  cleanup_free char *st = read_file_at(procfd, p, NULL);
  const char *e = st ? strstr(st, "\nCapEff:\t") : NULL;
  return e && (strtoull(e + 9, NULL, 16) & 1); /* CAP_CHOWN is bit 0 */
}

/* The file the call names, as an O_PATH fd, opened the way the kernel would resolve it for the
 * caller: an absolute path inside the caller's root (RESOLVE_IN_ROOT on /proc/TID/root, so a
 * chroot or a mount namespace of its own is honoured), a relative one from its cwd or dirfd.
 * Returns -errno, or CONTINUE when only the kernel can resolve it (a /proc/…/fd magic link). */
static int open_target(const struct owners_supervisor *s, pid_t tid, int dirfd, const char *path, int flags) {
  char p[64];
  bool absolute = path[0] == '/';
  if (absolute) snprintf(p, sizeof p, "%d/root", tid);
  else if (dirfd == AT_FDCWD) snprintf(p, sizeof p, "%d/cwd", tid);
  else if (dirfd < 0) return -EBADF;
  else snprintf(p, sizeof p, "%d/fd/%d", tid, dirfd);
  /* Following the /proc link is what names the caller's own root, cwd or open file. */
  int base = openat(s->procfd, p, O_PATH | O_CLOEXEC);
  if (base < 0) return errno == ENOENT && !absolute && dirfd != AT_FDCWD ? -EBADF : -errno;
  if (!*path) {
    if (!(flags & AT_EMPTY_PATH)) {
      close(base);
      return -ENOENT;
    }
    return base;
  }
  struct open_how how = {.flags = O_PATH | O_CLOEXEC | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0),
                         .resolve = RESOLVE_NO_MAGICLINKS | (absolute ? RESOLVE_IN_ROOT : 0)};
  int fd = (int)syscall(SYS_openat2, base, path, &how, sizeof how);
  int e = errno;
  close(base);
  if (fd >= 0) return fd;
  /* A magic link (/proc/self/fd/N …) would resolve against *our* fds: let the kernel do it. */
  return e == ELOOP ? CONTINUE : -e;
}

/* Records uid:gid (either may be ID_UNCHANGED) on a regular file or directory: merged with an
 * earlier record, removed when the result is root:root (no record needed, as in unpack). */
static void record_owner(const struct owners_supervisor *s, int fd, unsigned uid, unsigned gid) {
  struct stat st;
  if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) return; /* user.* xattrs only live there */
  char p[64];
  snprintf(p, sizeof p, "self/fd/%d", fd);
  /* fsetxattr needs a real fd; O_NONBLOCK: a file with a mandatory lock must not stall us. */
  cleanup_fd int rfd = openat(s->procfd, p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
  if (rfd < 0) return;
  char old[80] = "";
  unsigned ou = (unsigned)st.st_uid, og = (unsigned)st.st_gid, om;
  ssize_t n = fgetxattr(rfd, OWNER_XATTR, old, sizeof old - 1);
  if (n > 0) {
    old[n] = 0;
    if (sscanf(old, "%u:%u:%o", &ou, &og, &om) != 3) ou = (unsigned)st.st_uid, og = (unsigned)st.st_gid;
  }
  unsigned nu = uid == ID_UNCHANGED ? ou : uid, ng = gid == ID_UNCHANGED ? og : gid;
  if (nu == 0 && ng == 0) {
    (void)fremovexattr(rfd, OWNER_XATTR);
    return;
  }
  char v[80];
  int len = snprintf(v, sizeof v, "%u:%u:%o", nu, ng, (unsigned)(st.st_mode & 07777));
  (void)fsetxattr(rfd, OWNER_XATTR, v, (size_t)len, 0); /* best effort, as in unpack: not every filesystem has user xattrs */
}

/* Returns 0 or -errno as the result of the caller's syscall, or CONTINUE. */
static int emulate_chown(const struct owners_supervisor *s, const struct seccomp_notif *req) {
  const struct chown_call *c = NULL;
  for (size_t i = 0; i < N_ELEMENTS(chown_calls) && !c; i++)
    if (chown_calls[i].arch == req->data.arch && chown_calls[i].nr == (unsigned)req->data.nr) c = &chown_calls[i];
  if (!c) return CONTINUE;
  pid_t tid = (pid_t)req->pid;
  const __u64 *a = req->data.args;
  int dirfd = AT_FDCWD, flags = 0, ids = 1;
  uint64_t path_addr = 0;
  switch (c->kind) {
  case CHOWN_PATH: path_addr = a[0]; break;
  case CHOWN_LPATH: path_addr = a[0]; flags = AT_SYMLINK_NOFOLLOW; break;
  case CHOWN_FD: dirfd = (int)a[0]; flags = AT_EMPTY_PATH; break;
  case CHOWN_AT: dirfd = (int)a[0]; path_addr = a[1]; ids = 2; flags = (int)a[4]; break;
  }
  unsigned uid = (unsigned)a[ids], gid = (unsigned)a[ids + 1];
  if (c->ids16) {
    uid = (uid & 0xffff) == 0xffff ? ID_UNCHANGED : uid & 0xffff;
    gid = (gid & 0xffff) == 0xffff ? ID_UNCHANGED : gid & 0xffff;
  }
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  if (!has_cap_chown(s->procfd, tid)) return CONTINUE;
  char path[4096] = "";
  if (c->kind != CHOWN_FD) {
    int r = read_path(tid, path_addr, path, sizeof path);
    if (r < 0) return r;
  }
  cleanup_fd int fd = open_target(s, tid, dirfd, path, flags);
  if (fd < 0) return fd; /* -errno or CONTINUE */
  /* Everything above read the caller's memory and /proc/TID: if TID had exited and the number
   * been reused, that was someone else's. Still pending means still the caller. */
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) return -ESRCH;
  /* The part of the chown the map can express (root, or unchanged), for real: it also clears
   * setuid/setgid bits as the kernel would; then the rest as the record. */
  unsigned ru = uid == 0 ? 0 : ID_UNCHANGED, rg = gid == 0 ? 0 : ID_UNCHANGED;
  if (fchownat(fd, "", ru, rg, AT_EMPTY_PATH) < 0) return -errno;
  record_owner(s, fd, uid, gid);
  return 0;
}

bool owners_supervisor_handle(struct owners_supervisor *s) {
  memset(s->req, 0, s->req_size);
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, s->req) < 0) {
    /* ENOENT: the caller went away before we read it; EINTR: try again on the next poll. */
    return errno == ENOENT || errno == EINTR;
  }
  int r = emulate_chown(s, s->req);
  memset(s->resp, 0, s->resp_size);
  s->resp->id = s->req->id;
  if (r == CONTINUE) s->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else s->resp->error = r;
  /* ENOENT: the caller was killed meanwhile; nothing waits for the answer. */
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SEND, s->resp) < 0 && errno != ENOENT) return false;
  return true;
}

void owners_supervisor_stop(struct owners_supervisor *s) {
  if (s->listener >= 0) close(s->listener);
  s->listener = -1;
  free(s->req);
  free(s->resp);
  s->req = NULL;
  s->resp = NULL;
}
