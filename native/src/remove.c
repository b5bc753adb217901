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
  /* A deep walk keeps one listing per level: no 4 KiB minimum each. */
  return len + 64 < cap ? xrealloc(out, len ? len : 1) : out;
}

/* ---- removal: iterative, with a bounded number of open directories --------------------- */

/* Directories open at once during a removal. Deeper trees (a process in an env can make 100 000
 * nested directories; recursion would overflow a stack and one fd per level hits
 * RLIMIT_NOFILE) keep only the deepest levels open and reopen shallower ones by name, checking
 * they are still the same directory (device and inode), when the walk climbs back to them. */
#define RM_OPEN_FDS 32

struct rm_level {
  char *name; /* in the parent level's directory */
  dev_t dev;
  ino_t ino;
  int fd;      /* -1 while closed to stay within RM_OPEN_FDS */
  char *names; /* the directory's listing ("<d_type><name>\0" records), read before deleting */
  size_t len, off;
};

struct rm_state {
  int topfd; /* the directory holding the tree's top (the caller's) */
  struct rm_level *lv;
  size_t depth, cap, n_open;
  int err;
  char *failed;
};

/* The path of level[0..depth) plus `child`, relative to topfd: only built for a failure. */
static char *rm_path(struct rm_state *st, size_t depth, const char *child) {
  size_t n = child ? strlen(child) + 1 : 0;
  for (size_t i = 0; i < depth; i++) n += strlen(st->lv[i].name) + 1;
  char *p = xmalloc(n + 1), *o = p;
  for (size_t i = 0; i < depth; i++) o += sprintf(o, "%s%s", i ? "/" : "", st->lv[i].name);
  if (child) sprintf(o, "%s%s", depth ? "/" : "", child);
  return p;
}

static void fail(struct rm_state *st, int err, size_t depth, const char *child) {
  if (st->err) return;
  st->err = err;
  st->failed = rm_path(st, depth, child);
}

static int open_dir_here(int dirfd, const char *name) {
  struct open_how how = {
      .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
      .resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
}

static void close_level_fd(struct rm_state *st, struct rm_level *l) {
  if (l->fd < 0) return;
  close(l->fd);
  l->fd = -1;
  st->n_open--;
}

/* Keeps at most RM_OPEN_FDS levels open, closing the shallowest (reopened last, if ever). */
static void trim_open(struct rm_state *st) {
  for (size_t i = 0; st->n_open > RM_OPEN_FDS && i < st->depth; i++) close_level_fd(st, &st->lv[i]);
}

/* Opens level k (and up to RM_OPEN_FDS - 1 levels above it, which the walk needs next) from
 * the nearest open ancestor, by name, never following a symlink or leaving that ancestor, and
 * checks each is the directory it was. Returns its fd, or -1 with errno set. */
static int level_fd(struct rm_state *st, size_t k) {
  if (st->lv[k].fd >= 0) return st->lv[k].fd;
  size_t j = k; /* the first closed level to reopen: levels j..k are closed */
  while (j > 0 && st->lv[j - 1].fd < 0) j--;
  size_t first = k + 1 > RM_OPEN_FDS ? k + 1 - RM_OPEN_FDS : 0;
  if (first < j) first = j;
  int base = j ? st->lv[j - 1].fd : st->topfd;
  /* Walk down from `base` to level first-1 with O_PATH hops of up to PATH_MAX bytes each. */
  int hop = -1;
  size_t i = j;
  while (i < first) {
    char path[4096];
    size_t n = 0;
    while (i < first && n + strlen(st->lv[i].name) + 2 <= sizeof path) n += (size_t)sprintf(path + n, "%s%s", n ? "/" : "", st->lv[i++].name);
    struct open_how how = {
        .flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, hop >= 0 ? hop : base, path, &how, sizeof how);
    int e = errno;
    if (hop >= 0) close(hop);
    if (fd < 0) {
      errno = e;
      return -1;
    }
    hop = fd;
  }
  if (hop >= 0) {
    struct stat sb;
    if (fstat(hop, &sb) < 0 || sb.st_dev != st->lv[first - 1].dev || sb.st_ino != st->lv[first - 1].ino) {
      close(hop);
      errno = ESTALE;
      return -1;
    }
  }
  for (i = first; i <= k; i++) {
    int parent = i == first ? (hop >= 0 ? hop : base) : st->lv[i - 1].fd;
    int fd = open_dir_here(parent, st->lv[i].name);
    struct stat sb;
    if (fd >= 0 && (fstat(fd, &sb) < 0 || sb.st_dev != st->lv[i].dev || sb.st_ino != st->lv[i].ino)) {
      close(fd);
      fd = -1;
      errno = ESTALE; /* something replaced it meanwhile: do not delete in what we did not list */
    }
    if (fd < 0) {
      int e = errno;
      if (hop >= 0) close(hop);
      errno = e;
      return -1;
    }
    st->lv[i].fd = fd;
    st->n_open++;
  }
  if (hop >= 0) close(hop);
  trim_open(st);
  return st->lv[k].fd;
}

/* Opens directory `name` under parentfd (making it searchable first when it is not), lists it,
 * and pushes it as the new deepest level. Returns false when it is gone, turned out not to be a
 * directory (then it is unlinked), or failed (recorded). */
static bool push_dir(struct rm_state *st, int parentfd, const char *name) {
  int fd = open_dir_here(parentfd, name);
  if (fd < 0 && errno == EACCES && chmod_nofollow(parentfd, name, 0700) == 0) fd = open_dir_here(parentfd, name);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    /* It turned out not to be a directory (d_type was a guess, or it changed): plain unlink. */
    if ((errno == ENOTDIR || errno == ELOOP) && (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)) return false;
    fail(st, errno, st->depth, name);
    return false;
  }
  struct stat sb;
  if (fstat(fd, &sb) < 0) {
    fail(st, errno, st->depth, name);
    close(fd);
    return false;
  }
  /* Without owner write+search we could not empty it (only matters outside a user namespace). */
  if ((sb.st_mode & 0700) != 0700) (void)fchmod(fd, (sb.st_mode & 07777) | 0700);
  size_t len = 0;
  char *names = list_dir(fd, &len);
  if (!names) {
    fail(st, errno, st->depth, name);
    len = 0; /* pushed anyway: its rmdir then fails as "not empty", which the first error covers */
  }
  if (st->depth == st->cap) st->lv = xrealloc(st->lv, (st->cap = st->cap ? st->cap * 2 : 64) * sizeof *st->lv);
  st->lv[st->depth++] = (struct rm_level){xstrdup(name), sb.st_dev, sb.st_ino, fd, names, len, 0};
  st->n_open++;
  trim_open(st);
  return true;
}

/* Removes the entry `name` under parentfd when it is not a directory; true when done with it. */
static bool unlink_nondir(struct rm_state *st, int parentfd, const char *name, unsigned char type) {
  if (type == DT_DIR) return false;
  if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT) return true;
  if (errno == EISDIR) return false;
  fail(st, errno, st->depth, name);
  return true;
}

int remove_tree_at(int dirfd, const char *name, char **failed) {
  struct rm_state st = {.topfd = dirfd};
  if (!unlink_nondir(&st, dirfd, name, DT_UNKNOWN)) push_dir(&st, dirfd, name);
  while (st.depth > 0) {
    size_t k = st.depth - 1;
    struct rm_level *l = &st.lv[k];
    if (l->off < l->len) {
      unsigned char type = (unsigned char)l->names[l->off];
      const char *child = l->names + l->off + 1;
      l->off += strlen(child) + 2;
      int fd = level_fd(&st, k);
      l = &st.lv[k];
      if (fd < 0) {
        fail(&st, errno, k + 1, NULL);
        l->off = l->len; /* give up on the rest of this directory */
        continue;
      }
      if (!unlink_nondir(&st, fd, child, type)) push_dir(&st, fd, child);
      continue;
    }
    /* Everything in level k is done: remove the directory itself from its parent. */
    close_level_fd(&st, l);
    free(l->names);
    cleanup_free char *dname = l->name;
    st.depth--;
    int pfd = k ? level_fd(&st, k - 1) : dirfd;
    if (pfd < 0) {
      fail(&st, errno, k, NULL);
      st.lv[k - 1].off = st.lv[k - 1].len;
      continue;
    }
    if (unlinkat(pfd, dname, AT_REMOVEDIR) < 0 && errno != ENOENT && !(errno == ENOTEMPTY && st.err)) fail(&st, errno, k, dname);
  }
  free(st.lv);
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
  cleanup_free char *failed = NULL;
  int r;
  if (strcmp(idmap, "none")) {
    /* First as the caller: a tree we own (a run's writable layer, a tmp/ leftover) needs no
     * namespace, whose full map costs two setuid newuidmap/newgidmap runs. Only what that
     * cannot remove (files of subordinate ids) is removed again from inside one. */
    mode = parse_idmap_mode(idmap);
    r = remove_tree_at(parentfd, base, &failed);
    if (r == -EACCES || r == -EPERM) {
      free(failed);
      failed = NULL;
      (void)enter_userns_unless_none(idmap, &mode);
      r = remove_tree_at(parentfd, base, &failed);
    }
  } else {
    (void)enter_userns_unless_none(idmap, &mode);
    r = remove_tree_at(parentfd, base, &failed);
  }
  /* What failed may lie thousands of levels down: its path is shortened in the middle. */
  cleanup_free char *where = r < 0 ? xasprintf("%s/%s", parent, failed ? failed : base) : NULL;
  if (r == -EXDEV || r == -EBUSY)
    die_code("EMOUNTED", "unmount it first (umount, or stop the env that uses it), then remove again",
             "cannot remove %s: %s is a mount point", shorten_middle(target, 400), shorten_middle(where, 600));
  if (r == -EACCES || r == -EPERM)
    die_code("EPERM", "files owned by subordinate ids can only be removed inside a full id map: check /etc/subuid and "
             "/etc/subgid list this user and newuidmap is installed (--idmap full says why it is not used)",
             "cannot remove %s: %s", shorten_middle(where, 600), strerror(-r));
  if (r == -ESTALE)
    die_code("EREMOVE", "something else changed the tree while it was being removed: stop it, then remove again",
             "cannot remove %s: it was replaced during the removal", shorten_middle(where, 600));
  if (r < 0) die_code("EREMOVE", NULL, "cannot remove %s: %s", shorten_middle(where, 600), strerror(-r));
  status_event("{\"event\":\"done\"}");
  return 0;
}
