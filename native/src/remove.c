/* `crossroot-helper remove`: rm -rf of a store entry or a throwaway upper dir inside a user
 * namespace (files owned by subordinate ids cannot be removed from outside it). */
#include "commands.h"
#include "idmap.h"
#include "unpack.h"
#include "util.h"
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452 /* Linux 6.6, same number on every architecture */
#endif

struct rm_state {
  int err;
  char *failed;
};

void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int chmod_nofollow(int dirfd, const char *name, mode_t mode) {
  if (syscall(__NR_fchmodat2, dirfd, name, mode, AT_SYMLINK_NOFOLLOW) == 0) return 0;
  if (errno != ENOSYS) return -errno;
  /* Older kernels: pin the inode with O_PATH, then chmod it through its /proc fd link. */
  cleanup_fd int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if (S_ISLNK(st.st_mode)) return -EOPNOTSUPP;
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return chmod(proc, mode) < 0 ? -errno : 0;
}

static void fail(struct rm_state *st, int err, const char *rel) {
  if (st->err) return;
  st->err = err;
  st->failed = xstrdup(rel);
}

static int open_dir_here(int dirfd, const char *name) {
  struct open_how how = {
      .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
      .resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
}

char *list_dir(int fd, size_t *len_out) {
  size_t cap = 4096, len = 0;
  char *out = xmalloc(cap);
  char buf[16384];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) {
      free(out);
      return NULL;
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->d_reclen;
      if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..")) continue;
      size_t nl = strlen(d->d_name);
      while (len + nl + 2 > cap) out = xrealloc(out, cap *= 2);
      out[len++] = (char)d->d_type;
      memcpy(out + len, d->d_name, nl + 1);
      len += nl + 1;
    }
  }
  *len_out = len;
  return out;
}

static void rm_entry(int dirfd, const char *name, unsigned char type, const char *rel, struct rm_state *st);

static void rm_children(int fd, const char *rel, struct rm_state *st) {
  size_t len;
  cleanup_free char *names = list_dir(fd, &len);
  if (!names) {
    fail(st, errno, rel);
    return;
  }
  for (size_t off = 0; off < len;) {
    unsigned char type = (unsigned char)names[off];
    const char *child = names + off + 1;
    off += strlen(child) + 2;
    cleanup_free char *crel = *rel ? xasprintf("%s/%s", rel, child) : xstrdup(child);
    rm_entry(fd, child, type, crel, st);
  }
}

static void rm_entry(int dirfd, const char *name, unsigned char type, const char *rel, struct rm_state *st) {
  if (type != DT_DIR) {
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return;
    if (errno != EISDIR) {
      fail(st, errno, rel);
      return;
    }
  }
  int fd = open_dir_here(dirfd, name);
  if (fd < 0 && errno == EACCES && chmod_nofollow(dirfd, name, 0700) == 0) fd = open_dir_here(dirfd, name);
  if (fd < 0) {
    if (errno == ENOENT) return;
    /* It turned out not to be a directory (d_type was a guess, or it changed): plain unlink. */
    if ((errno == ENOTDIR || errno == ELOOP) && (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)) return;
    fail(st, errno, rel);
    return;
  }
  struct stat sb;
  /* Without owner write+search we could not empty it (only matters outside a user namespace). */
  if (fstat(fd, &sb) == 0 && (sb.st_mode & 0700) != 0700) (void)fchmod(fd, (sb.st_mode & 07777) | 0700);
  rm_children(fd, rel, st);
  close(fd);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !(errno == ENOTEMPTY && st->err))
    fail(st, errno, rel);
}

int remove_tree_at(int dirfd, const char *name, char **failed) {
  struct rm_state st = {0, NULL};
  rm_entry(dirfd, name, DT_UNKNOWN, name, &st);
  if (failed) *failed = st.failed;
  else free(st.failed);
  return -st.err;
}

static void usage_die(const char *msg) {
  die_code("EUSAGE", "usage: crossroot-helper remove --target DIR [--idmap auto|single|full|none] [--status-fd N]", "%s", msg);
}

int cmd_remove(int argc, char **argv) {
  const char *target = NULL, *idmap = "auto";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage_die(xasprintf("%s needs a value", a));
    if (!strcmp(a, "--target")) target = argv[++i];
    else if (!strcmp(a, "--idmap")) idmap = argv[++i];
    else if (!strcmp(a, "--status-fd")) set_status_fd_arg(a, argv[++i]);
    else usage_die(xasprintf("unknown option '%s'", a));
  }
  if (!target || !*target) usage_die("--target DIR is required");

  cleanup_free char *copy1 = xstrdup(target), *copy2 = xstrdup(target);
  const char *base = basename(copy1);
  const char *parent = dirname(copy2);
  if (!strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, ".."))
    die_code("EUSAGE", "name the directory itself, e.g. /path/to/dir", "refusing to remove '%s'", target);
  /* The parent is the caller's own path, so following its symlinks is fine; what lies inside is not. */
  cleanup_fd int parentfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (parentfd < 0 && errno == ENOENT) { /* rm -f: nothing to remove is success */
    status_event("{\"event\":\"done\"}");
    return 0;
  }
  if (parentfd < 0) die_with_error("opening %s", parent);
  raise_fd_limit();
  enum idmap_mode mode;
  (void)enter_userns_unless_none(idmap, &mode);

  cleanup_free char *failed = NULL;
  int r = remove_tree_at(parentfd, base, &failed);
  if (r == -EXDEV || r == -EBUSY)
    die_code("EMOUNTED", "unmount it first (umount, or stop the env that uses it), then remove again",
             "cannot remove %s: %s/%s is a mount point", target, parent, failed);
  if (r == -EACCES || r == -EPERM)
    die_code("EPERM", "files owned by subordinate ids can only be removed inside a full id map: check /etc/subuid and "
             "/etc/subgid list this user and newuidmap is installed (--idmap full says why it is not used)",
             "cannot remove %s/%s: %s", parent, failed, strerror(-r));
  if (r < 0) die_code("EREMOVE", NULL, "cannot remove %s/%s: %s", parent, failed, strerror(-r));
  status_event("{\"event\":\"done\"}");
  return 0;
}
