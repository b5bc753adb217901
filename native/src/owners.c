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

enum op { OP_CHOWN, OP_CHMOD };
enum form {
  FORM_PATH,  /* chown(path, uid, gid) / chmod(path, mode): follows a final symlink */
  FORM_LPATH, /* lchown(path, uid, gid) */
  FORM_FD,    /* fchown(fd, uid, gid) / fchmod(fd, mode) */
  FORM_AT,    /* fchownat(dirfd, path, uid, gid, flags) / fchmodat2(dirfd, path, mode, flags) */
  FORM_AT0,   /* fchmodat(dirfd, path, mode): no flags argument */
};

/* Every chown and chmod of every syscall ABI the host kernel runs: qemu-user makes the host
 * syscall for a foreign binary, so these are what the filter sees for every env arch. chmod is
 * caught so that the mode in a record stays the file's (dpkg chowns, then chmods). */
static const struct owner_call {
  unsigned arch, nr;
  enum op op;
  enum form form;
  bool ids16; /* the old 16-bit-id calls: 0xffff means unchanged */
} owner_calls[] = {
#define FCHMODAT2 452 /* the same number on every arch (Linux 6.6) */
#if defined(__x86_64__)
#define X32 0x40000000u
#define X86_64_CALLS(b) \
  {AUDIT_ARCH_X86_64, b | 92, OP_CHOWN, FORM_PATH, false}, {AUDIT_ARCH_X86_64, b | 93, OP_CHOWN, FORM_FD, false}, \
  {AUDIT_ARCH_X86_64, b | 94, OP_CHOWN, FORM_LPATH, false}, {AUDIT_ARCH_X86_64, b | 260, OP_CHOWN, FORM_AT, false}, \
  {AUDIT_ARCH_X86_64, b | 90, OP_CHMOD, FORM_PATH, false}, {AUDIT_ARCH_X86_64, b | 91, OP_CHMOD, FORM_FD, false}, \
  {AUDIT_ARCH_X86_64, b | 268, OP_CHMOD, FORM_AT0, false}, {AUDIT_ARCH_X86_64, b | FCHMODAT2, OP_CHMOD, FORM_AT, false}
  X86_64_CALLS(0), X86_64_CALLS(X32),
  {AUDIT_ARCH_I386, 16, OP_CHOWN, FORM_LPATH, true}, {AUDIT_ARCH_I386, 95, OP_CHOWN, FORM_FD, true},
  {AUDIT_ARCH_I386, 182, OP_CHOWN, FORM_PATH, true}, {AUDIT_ARCH_I386, 198, OP_CHOWN, FORM_LPATH, false},
  {AUDIT_ARCH_I386, 207, OP_CHOWN, FORM_FD, false}, {AUDIT_ARCH_I386, 212, OP_CHOWN, FORM_PATH, false},
  {AUDIT_ARCH_I386, 298, OP_CHOWN, FORM_AT, false},
  {AUDIT_ARCH_I386, 15, OP_CHMOD, FORM_PATH, false}, {AUDIT_ARCH_I386, 94, OP_CHMOD, FORM_FD, false},
  {AUDIT_ARCH_I386, 306, OP_CHMOD, FORM_AT0, false}, {AUDIT_ARCH_I386, FCHMODAT2, OP_CHMOD, FORM_AT, false},
#elif defined(__aarch64__)
  {AUDIT_ARCH_AARCH64, 54, OP_CHOWN, FORM_AT, false}, {AUDIT_ARCH_AARCH64, 55, OP_CHOWN, FORM_FD, false},
  {AUDIT_ARCH_AARCH64, 52, OP_CHMOD, FORM_FD, false}, {AUDIT_ARCH_AARCH64, 53, OP_CHMOD, FORM_AT0, false},
  {AUDIT_ARCH_AARCH64, FCHMODAT2, OP_CHMOD, FORM_AT, false},
  {AUDIT_ARCH_ARM, 16, OP_CHOWN, FORM_LPATH, true}, {AUDIT_ARCH_ARM, 95, OP_CHOWN, FORM_FD, true},
  {AUDIT_ARCH_ARM, 182, OP_CHOWN, FORM_PATH, true}, {AUDIT_ARCH_ARM, 198, OP_CHOWN, FORM_LPATH, false},
  {AUDIT_ARCH_ARM, 207, OP_CHOWN, FORM_FD, false}, {AUDIT_ARCH_ARM, 212, OP_CHOWN, FORM_PATH, false},
  {AUDIT_ARCH_ARM, 325, OP_CHOWN, FORM_AT, false},
  {AUDIT_ARCH_ARM, 15, OP_CHMOD, FORM_PATH, false}, {AUDIT_ARCH_ARM, 94, OP_CHMOD, FORM_FD, false},
  {AUDIT_ARCH_ARM, 333, OP_CHMOD, FORM_AT0, false}, {AUDIT_ARCH_ARM, FCHMODAT2, OP_CHMOD, FORM_AT, false},
#else
#error "add this host's audit arches and chown/chmod syscall numbers"
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
  struct sock_filter f[5 * N_ELEMENTS(owner_calls) + 1];
  size_t n = 0;
  for (size_t i = 0; i < N_ELEMENTS(owner_calls); i++) {
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, owner_calls[i].arch, 0, 3);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, owner_calls[i].nr, 0, 1);
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

/* Whether the caller holds capability cap in its effective set (in its own user namespace).
 * Without it, the kernel's own checks decide: a process that dropped CAP_CHOWN (or CAP_FOWNER,
 * for chmod) must not get the call through us. */
static bool has_cap(int procfd, pid_t tid, int cap) {
  char p[64];
  snprintf(p, sizeof p, "%d/status", tid);
  cleanup_free char *st = read_file_at(procfd, p, NULL);
  const char *e = st ? strstr(st, "\nCapEff:\t") : NULL;
  return e && (strtoull(e + 9, NULL, 16) >> cap & 1);
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

/* A readable fd of what the O_PATH fd names, for the xattr calls (they need a real fd); -1 for
 * anything but a regular file or directory (only those carry user.* xattrs). O_NONBLOCK: a file
 * with a mandatory lock must not stall the supervisor. */
static int reopen(const struct owners_supervisor *s, int fd, struct stat *st) {
  if (fstat(fd, st) < 0 || (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))) return -1;
  char p[64];
  snprintf(p, sizeof p, "self/fd/%d", fd);
  return openat(s->procfd, p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st->st_mode) ? O_DIRECTORY : 0));
}

/* The record on rfd as uid and gid; false when there is none (or it does not parse). */
static bool read_record(int rfd, unsigned *uid, unsigned *gid) {
  char v[80];
  unsigned mode;
  ssize_t n = fgetxattr(rfd, OWNER_XATTR, v, sizeof v - 1);
  if (n <= 0) return false;
  v[n] = 0;
  return sscanf(v, "%u:%u:%o", uid, gid, &mode) == 3;
}

/* Writes uid:gid with the file's current mode; removes the record for root:root (as unpack,
 * which records only other owners). Best effort, as in unpack: not every filesystem has user
 * xattrs. */
static void write_record(int rfd, unsigned uid, unsigned gid) {
  struct stat st;
  if (uid == 0 && gid == 0) {
    (void)fremovexattr(rfd, OWNER_XATTR);
    return;
  }
  if (fstat(rfd, &st) < 0) return;
  char v[80];
  int len = snprintf(v, sizeof v, "%u:%u:%o", uid, gid, (unsigned)(st.st_mode & 07777));
  (void)fsetxattr(rfd, OWNER_XATTR, v, (size_t)len, 0);
}

/* The syscall's arguments, whatever its form. */
struct call_args {
  int dirfd, flags;
  uint64_t path_addr; /* 0: no path (an fd call) */
  unsigned uid, gid, mode;
};

static struct call_args decode(const struct owner_call *c, const __u64 *a) {
  struct call_args r = {.dirfd = AT_FDCWD};
  int rest = 1; /* index of the first argument after the file */
  switch (c->form) {
  case FORM_PATH: r.path_addr = a[0]; break;
  case FORM_LPATH: r.path_addr = a[0]; r.flags = AT_SYMLINK_NOFOLLOW; break;
  case FORM_FD: r.dirfd = (int)a[0]; r.flags = AT_EMPTY_PATH; break;
  case FORM_AT0: r.dirfd = (int)a[0]; r.path_addr = a[1]; rest = 2; break;
  case FORM_AT: r.dirfd = (int)a[0]; r.path_addr = a[1]; rest = 2; r.flags = (int)a[c->op == OP_CHOWN ? 4 : 3]; break;
  }
  if (c->op == OP_CHMOD) {
    r.mode = (unsigned)a[rest] & 07777;
    return r;
  }
  r.uid = (unsigned)a[rest];
  r.gid = (unsigned)a[rest + 1];
  if (c->ids16) {
    r.uid = (r.uid & 0xffff) == 0xffff ? ID_UNCHANGED : r.uid & 0xffff;
    r.gid = (r.gid & 0xffff) == 0xffff ? ID_UNCHANGED : r.gid & 0xffff;
  }
  return r;
}

/* Returns 0 or -errno as the result of the caller's syscall, or CONTINUE. */
static int emulate(const struct owners_supervisor *s, const struct seccomp_notif *req) {
  const struct owner_call *c = NULL;
  for (size_t i = 0; i < N_ELEMENTS(owner_calls) && !c; i++)
    if (owner_calls[i].arch == req->data.arch && owner_calls[i].nr == (unsigned)req->data.nr) c = &owner_calls[i];
  if (!c) return CONTINUE;
  pid_t tid = (pid_t)req->pid;
  struct call_args a = decode(c, req->data.args);
  if (a.flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  /* chmod of a symlink itself: the kernel's answer (EOPNOTSUPP); no record lives there anyway. */
  if (c->op == OP_CHMOD && (a.flags & AT_SYMLINK_NOFOLLOW)) return CONTINUE;
  if (!has_cap(s->procfd, tid, c->op == OP_CHOWN ? 0 /* CAP_CHOWN */ : 3 /* CAP_FOWNER */)) return CONTINUE;
  char path[4096] = "";
  if (a.path_addr) {
    int r = read_path(tid, a.path_addr, path, sizeof path);
    if (r < 0) return r;
  }
  cleanup_fd int fd = open_target(s, tid, a.dirfd, path, a.flags);
  if (fd < 0) return fd; /* -errno or CONTINUE */
  /* Everything above read the caller's memory and /proc/TID: if TID had exited and the number
   * been reused, that was someone else's. Still pending means still the caller. */
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) return -ESRCH;
  struct stat st;
  cleanup_fd int rfd = reopen(s, fd, &st);
  unsigned ru = 0, rg = 0;
  bool recorded = rfd >= 0 && read_record(rfd, &ru, &rg);
  if (c->op == OP_CHMOD) {
    /* Without a record the kernel's chmod is exactly right; with one, we chmod and keep the
     * record's mode the file's. */
    if (!recorded) return CONTINUE;
    char p[64];
    snprintf(p, sizeof p, "self/fd/%d", fd);
    if (fchmodat(s->procfd, p, a.mode, 0) < 0) return -errno;
    write_record(rfd, ru, rg);
    return 0;
  }
  /* The part of the chown the map can express (root, or unchanged), for real: it also clears
   * setuid/setgid bits as the kernel would; then the whole owner as the record. */
  unsigned u = a.uid == 0 ? 0 : ID_UNCHANGED, g = a.gid == 0 ? 0 : ID_UNCHANGED;
  if (fchownat(fd, "", u, g, AT_EMPTY_PATH) < 0) return -errno;
  if (rfd < 0) return 0; /* a symlink, fifo, socket or device: nothing can carry the owner */
  if (!recorded) ru = (unsigned)st.st_uid, rg = (unsigned)st.st_gid;
  write_record(rfd, a.uid == ID_UNCHANGED ? ru : a.uid, a.gid == ID_UNCHANGED ? rg : a.gid);
  return 0;
}

bool owners_supervisor_handle(struct owners_supervisor *s) {
  memset(s->req, 0, s->req_size);
  if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, s->req) < 0) {
    /* ENOENT: the caller went away before we read it; EINTR: try again on the next poll. */
    return errno == ENOENT || errno == EINTR;
  }
  int r = emulate(s, s->req);
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
