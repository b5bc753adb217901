/* `crossroot-helper unpack`: applies OCI layers in order onto a directory, with whiteouts and
 * opaque dirs, inside a user namespace so ownership is real. Every path is resolved with
 * openat2(RESOLVE_IN_ROOT) from one root fd, and every entry is made with *at() calls on the
 * parent fd found that way, so nothing in an archive can reach outside the target. */
#include "commands.h"
#include "decompress.h"
#include "idmap.h"
#include "tar.h"
#include "unpack.h"
#include "util.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>

#define OWNER_XATTR "user.crossroot.owner"
#define MAX_LAYERS 256

static const char unsafe_fix[] =
    "the layer tries to reach outside the directory it is unpacked into: do not use this image";

/* Who may own what we create. REAL: chown to the archive's ids (full subuid map, or real root).
 * CALLER: everything stays owned by the caller, who stands for root; other owners are recorded
 * in the user.crossroot.owner xattr (single-id map, or --idmap none as a normal user). */
enum owners { OWNERS_REAL, OWNERS_CALLER };

struct skipped {
  uint64_t devices, xattrs, owners, other;
};

/* Paths (cleaned archive names) this layer created or wrote below, so that an opaque marker or
 * a whiteout met late in the tar only removes what lower layers left. */
struct pathset {
  char **slots;
  size_t cap, n;
};

struct dir_fix {
  char *path;
  uint32_t mode;
  struct timespec mtime;
  bool dead; /* a later entry of the layer put a non-directory at this path */
};

/* Pending directory fixes by path (slot = index in dirs + 1, 0 = empty): the layer's last entry
 * at a path decides its mode and mtime, as in GNU tar and containerd. */
struct dirmap {
  size_t *slots;
  size_t cap, n;
};

struct unpacker {
  int rootfd;
  /* --no-whiteouts: a plain archive (a Dockerfile COPY/ADD), where `.wh.` names are just names. */
  bool plain;
  enum owners owners;
  int layer;
  const char *label;
  const char *cur_name;
  struct pathset touched;
  /* The last parent directory resolved, reused while entries stay in one directory. */
  char *parent_path;
  int parent_fd;
  bool parent_stale;
  bool parent_sgid, root_sgid;
  /* The current entry's directory is setgid: new entries inherit its group, not ours. */
  bool in_sgid_dir;
  struct dir_fix *dirs;
  size_t n_dirs, cap_dirs;
  struct dirmap dirmap;
  char *path; /* cleaned name of the current entry */
  size_t path_cap;
  uint64_t entries;
  struct skipped skip;
  char xattr_note[512];
  struct timespec last_progress;
};

/* ---- path set ---------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
  return h;
}

static char **set_slot(struct pathset *set, const char *s, size_t n) {
  size_t mask = set->cap - 1;
  for (size_t i = hash_str(s, n) & mask;; i = (i + 1) & mask) {
    char *k = set->slots[i];
    if (!k || (strlen(k) == n && !memcmp(k, s, n))) return &set->slots[i];
  }
}

static bool set_has(struct pathset *set, const char *s) {
  return set->cap && *set_slot(set, s, strlen(s)) != NULL;
}

/* Adds s[0..n); returns false when it was already there. */
static bool set_add(struct pathset *set, const char *s, size_t n) {
  if ((set->n + 1) * 2 > set->cap) {
    struct pathset bigger = {xcalloc(set->cap ? set->cap * 2 : 1024, sizeof(char *)), set->cap ? set->cap * 2 : 1024, set->n};
    for (size_t i = 0; i < set->cap; i++)
      if (set->slots[i]) *set_slot(&bigger, set->slots[i], strlen(set->slots[i])) = set->slots[i];
    free(set->slots);
    *set = bigger;
  }
  char **slot = set_slot(set, s, n);
  if (*slot) return false;
  *slot = xmalloc(n + 1);
  memcpy(*slot, s, n);
  (*slot)[n] = 0;
  set->n++;
  return true;
}

/* Adds a path and its ancestors (stopping at the first ancestor already known). */
static void set_add_path(struct pathset *set, const char *path) {
  size_t n = strlen(path);
  while (n > 0 && set_add(set, path, n)) {
    while (n > 0 && path[n - 1] != '/') n--;
    if (n > 0) n--;
  }
}

static size_t *dirmap_slot(struct unpacker *u, const char *path) {
  struct dirmap *m = &u->dirmap;
  if ((m->n + 1) * 2 > m->cap) {
    struct dirmap bigger = {xcalloc(m->cap ? m->cap * 2 : 256, sizeof(size_t)), m->cap ? m->cap * 2 : 256, m->n};
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->slots[i]) continue;
      const char *k = u->dirs[m->slots[i] - 1].path;
      for (size_t j = hash_str(k, strlen(k)) & (bigger.cap - 1);; j = (j + 1) & (bigger.cap - 1))
        if (!bigger.slots[j]) { bigger.slots[j] = m->slots[i]; break; }
    }
    free(m->slots);
    *m = bigger;
  }
  size_t mask = m->cap - 1;
  for (size_t i = hash_str(path, strlen(path)) & mask;; i = (i + 1) & mask)
    if (!m->slots[i] || !strcmp(u->dirs[m->slots[i] - 1].path, path)) return &m->slots[i];
}

static void set_clear(struct pathset *set) {
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i]);
  free(set->slots);
  *set = (struct pathset){0};
}

/* ---- errors and notes -------------------------------------------------------------------- */

__attribute__((noreturn, format(printf, 4, 5))) static void entry_die(struct unpacker *u, const char *code, const char *fix,
                                                                     const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  die_code(code, fix, "layer %s: entry '%s': %s", u->label, tar_short_name(u->cur_name ? u->cur_name : ""), msg);
}

/* A kernel refusal while writing an entry; errno names the cause. */
__attribute__((noreturn)) static void entry_fail(struct unpacker *u, const char *what) {
  int e = errno;
  const char *fix = NULL;
  if (e == ENAMETOOLONG) fix = "the name is longer than Linux allows (4096 bytes, 255 per component): the layer cannot be unpacked here";
  else if (e == ENOSPC || e == EDQUOT) fix = "free some disk space (or raise the quota) and unpack again";
  else if (e == EXDEV) fix = "the target contains a mount point; unpack into a directory without mounts inside";
  else if (e == EROFS) fix = "the target is on a read-only filesystem";
  entry_die(u, "EUNPACK", fix, "%s: %s", what, strerror(e));
}

static void note_xattr_skip(struct unpacker *u, const char *name, int err) {
  u->skip.xattrs++;
  if (!u->xattr_note[0])
    snprintf(u->xattr_note, sizeof u->xattr_note, "%s on %s: %s", name, tar_short_name(u->cur_name), strerror(err));
}

static void on_progress(void *ctx, uint64_t bytes_in) {
  struct unpacker *u = ctx;
  if (status_fd < 0) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  int64_t ms = (now.tv_sec - u->last_progress.tv_sec) * 1000 + (now.tv_nsec - u->last_progress.tv_nsec) / 1000000;
  if (ms < 100) return;
  u->last_progress = now;
  status_event("{\"event\":\"progress\",\"layer\":%d,\"bytesIn\":%llu}", u->layer, (unsigned long long)bytes_in);
}

/* ---- resolving paths inside the root ----------------------------------------------------- */

/* Archive names are cleaned into "a/b/c": leading '/', empty and '.' components dropped (so
 * absolute names land under the root). A ".." component is refused rather than clamped: no
 * layer tool writes one, and refusing keeps every name's meaning obvious. */
static bool clean_path(const char *in, char *out) {
  size_t o = 0;
  for (const char *p = in; *p;) {
    while (*p == '/') p++;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - s);
    if (n == 0 || (n == 1 && s[0] == '.')) continue;
    if (n == 2 && s[0] == '.' && s[1] == '.') return false;
    if (o) out[o++] = '/';
    memcpy(out + o, s, n);
    o += n;
  }
  out[o] = 0;
  return true;
}

static int openat2_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  for (int tries = 0;; tries++) {
    int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    /* EAGAIN: a concurrent rename somewhere in the tree made the kernel unsure; try again. */
    if (fd >= 0 || errno != EAGAIN || tries > 16) return fd;
  }
}

/* An O_PATH fd of directory `path` (cleaned) inside the root; with `create`, missing
 * directories on the way are made (0755, like tar). Returns -1 with errno set on failure. */
static int open_dir_in_root(struct unpacker *u, const char *path, bool create) {
  if (!*path) return fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
  int fd = openat2_in_root(u->rootfd, path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT || !create) return fd;
  /* Rare (tars usually list directories first): walk down, making what is missing. Each
   * component is made under the fd resolved in-root for its parent, then resolved again. */
  cleanup_free char *prefix = xstrdup(path);
  int parent = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
  for (char *slash = prefix;; slash++) {
    slash = strchr(slash, '/');
    if (slash) *slash = 0;
    const char *comp = strrchr(prefix, '/');
    comp = comp ? comp + 1 : prefix;
    fd = openat2_in_root(u->rootfd, prefix, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      if (mkdirat(parent, comp, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        close(parent);
        errno = e;
        return -1;
      }
      fd = openat2_in_root(u->rootfd, prefix, O_PATH | O_DIRECTORY);
    }
    int e = errno;
    close(parent);
    if (fd < 0) {
      errno = e;
      return -1;
    }
    if (!slash) return fd;
    *slash = '/';
    parent = fd;
  }
}

/* The parent directory fd for entries in `parent`, cached across consecutive entries. */
static int parent_dir(struct unpacker *u, const char *parent, bool create) {
  if (!*parent) {
    u->in_sgid_dir = u->root_sgid;
    return u->rootfd;
  }
  if (u->parent_fd >= 0 && !u->parent_stale && !strcmp(u->parent_path, parent)) {
    u->in_sgid_dir = u->parent_sgid;
    return u->parent_fd;
  }
  if (u->parent_fd >= 0) close(u->parent_fd);
  free(u->parent_path);
  u->parent_path = NULL;
  u->parent_stale = false;
  u->parent_fd = open_dir_in_root(u, parent, create);
  if (u->parent_fd < 0) return -1;
  u->parent_path = xstrdup(parent);
  struct stat st;
  u->in_sgid_dir = u->parent_sgid = fstat(u->parent_fd, &st) == 0 && (st.st_mode & S_ISGID);
  return u->parent_fd;
}

/* After anything is removed, the cached parent may be a removed directory (or one a new
 * symlink now hides); it is resolved again for the next entry. */
static void removed_something(struct unpacker *u) { u->parent_stale = true; }

static void remove_or_die(struct unpacker *u, int dirfd, const char *name) {
  cleanup_free char *failed = NULL;
  int r = remove_tree_at(dirfd, name, &failed);
  removed_something(u);
  if (r < 0) {
    errno = -r;
    entry_fail(u, failed ? xasprintf("removing '%s' that it replaces", failed) : "removing what it replaces");
  }
}

/* Makes room for a new entry `name`: whatever is there (file, symlink, whole tree) goes. */
static void clear_slot(struct unpacker *u, int pfd, const char *name) {
  if (unlinkat(pfd, name, 0) == 0) {
    removed_something(u);
    return;
  }
  if (errno == ENOENT) return;
  if (errno != EISDIR) entry_fail(u, "removing the entry it replaces");
  remove_or_die(u, pfd, name);
}

/* ---- metadata ---------------------------------------------------------------------------- */

/* Applies the archive's owner to the new entry (fd, or pfd+name without following a symlink).
 * Returns false when it cannot be applied here; the caller records it. */
static bool apply_owner(struct unpacker *u, int fd, int pfd, const char *name, const struct tar_entry *e, bool fresh) {
  bool root_owned = e->uid == 0 && e->gid == 0;
  if (u->owners == OWNERS_CALLER) return root_owned;
  if (fresh && root_owned && !u->in_sgid_dir) return true; /* we are root here: new entries are 0:0 already */
  if (e->uid >= UINT32_MAX || e->gid >= UINT32_MAX) return false; /* (uid_t)-1 would mean "unchanged" */
  int r = fd >= 0 ? fchown(fd, (uid_t)e->uid, (gid_t)e->gid)
                  : fchownat(pfd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW);
  if (r == 0) return true;
  if (errno == EINVAL || errno == EPERM) return false; /* id outside our map */
  entry_fail(u, "setting its owner");
}

/* Keeps ownership that could not be applied, so a later tool (or a user) can see it. */
static void record_owner(struct unpacker *u, int fd, const struct tar_entry *e) {
  u->skip.owners++;
  char v[80];
  int n = snprintf(v, sizeof v, "%llu:%llu:%o", (unsigned long long)e->uid, (unsigned long long)e->gid, e->mode);
  (void)fsetxattr(fd, OWNER_XATTR, v, (size_t)n, 0); /* best effort: not every filesystem has user xattrs */
}

static void apply_xattrs(struct unpacker *u, int fd, const struct tar_entry *e) {
  for (size_t i = 0; i < e->n_xattrs; i++)
    if (fsetxattr(fd, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].len, 0) < 0)
      note_xattr_skip(u, e->xattrs[i].name, errno);
}

static void skip_xattrs(struct unpacker *u, const struct tar_entry *e, const char *why) {
  for (size_t i = 0; i < e->n_xattrs; i++) {
    u->skip.xattrs++;
    if (!u->xattr_note[0])
      snprintf(u->xattr_note, sizeof u->xattr_note, "%s on %s: %s", e->xattrs[i].name, tar_short_name(u->cur_name), why);
  }
}

static struct timespec *mtimes(const struct tar_entry *e, struct timespec ts[2]) {
  ts[0] = (struct timespec){.tv_nsec = UTIME_OMIT};
  ts[1] = e->mtime;
  return ts;
}

/* ---- entries ----------------------------------------------------------------------------- */

static void make_file(struct unpacker *u, struct tar_reader *r, int pfd, const char *name, const struct tar_entry *e) {
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = openat(pfd, name, flags, e->mode & 0777);
  if (fd < 0 && errno == EEXIST) {
    clear_slot(u, pfd, name);
    fd = openat(pfd, name, flags, e->mode & 0777);
  }
  if (fd < 0) entry_fail(u, "creating the file");
  const uint8_t *p;
  size_t n;
  while ((n = tar_read_data(r, SIZE_MAX, &p)) > 0)
    if (write_all(fd, p, n) < 0) entry_fail(u, "writing the file");
  if (!apply_owner(u, fd, -1, NULL, e, true)) record_owner(u, fd, e);
  /* After chown, which clears setuid/setgid. */
  if ((e->mode & 07000) && fchmod(fd, e->mode) < 0) entry_fail(u, "setting its mode");
  apply_xattrs(u, fd, e);
  struct timespec ts[2];
  if (futimens(fd, mtimes(e, ts)) < 0) entry_fail(u, "setting its mtime");
  if (close(fd) < 0) entry_fail(u, "writing the file");
}

/* A readable fd of the directory; for the root a new open file description (a dup would share
 * the root fd's directory offset with getdents). */
static int open_dir_fd(struct unpacker *u, int pfd, const char *name) {
  int fd = openat(*name ? pfd : u->rootfd, *name ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) entry_fail(u, "opening the directory");
  return fd;
}

static void make_dir(struct unpacker *u, int pfd, const char *name, const struct tar_entry *e) {
  /* We must be able to fill it; the exact mode (and dropping a setgid bit inherited from the
   * parent) comes at the end of the layer. */
  uint32_t made_mode = (e->mode & 0777) | 0700;
  bool fresh = true;
  if (*name) {
    if (mkdirat(pfd, name, made_mode) < 0) {
      if (errno != EEXIST) entry_fail(u, "creating the directory");
      struct stat st;
      if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) entry_fail(u, "looking at what is there");
      if (S_ISDIR(st.st_mode)) fresh = false;
      else {
        clear_slot(u, pfd, name);
        if (mkdirat(pfd, name, made_mode) < 0) entry_fail(u, "creating the directory");
      }
    }
  } else {
    fresh = false; /* the root itself ("./") */
  }
  /* A directory fd only when xattrs need one: most directories get by with fchownat. */
  cleanup_fd int fd = -1;
  if (e->n_xattrs || !*name) fd = open_dir_fd(u, pfd, name);
  if (!apply_owner(u, fd, pfd, name, e, fresh)) {
    if (fd < 0) fd = open_dir_fd(u, pfd, name);
    record_owner(u, fd, e);
  }
  if (fd >= 0) apply_xattrs(u, fd, e);
  /* Met before in this layer: the later entry's mode and mtime win, applied at the place of the
   * first one (which comes after everything made inside it, in fix_dirs' reverse order). */
  size_t *slot = dirmap_slot(u, u->path);
  if (*slot) {
    u->dirs[*slot - 1] = (struct dir_fix){u->dirs[*slot - 1].path, e->mode, e->mtime, false};
    return;
  }
  if (u->n_dirs == u->cap_dirs) u->dirs = xrealloc(u->dirs, (u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 256) * sizeof *u->dirs);
  u->dirs[u->n_dirs++] = (struct dir_fix){xstrdup(u->path), e->mode, e->mtime, false};
  *slot = u->n_dirs;
  u->dirmap.n++;
}

static void make_symlink(struct unpacker *u, int pfd, const char *name, const struct tar_entry *e) {
  if (!*e->linkpath) entry_die(u, "EBADTAR", NULL, "symlink with an empty target");
  /* The target is stored verbatim: it is only data until something resolves it, and every
   * resolution we do is confined to the root. */
  if (symlinkat(e->linkpath, pfd, name) < 0) {
    if (errno != EEXIST) entry_fail(u, "creating the symlink");
    clear_slot(u, pfd, name);
    if (symlinkat(e->linkpath, pfd, name) < 0) entry_fail(u, "creating the symlink");
  }
  if (!apply_owner(u, -1, pfd, name, e, true)) u->skip.owners++; /* symlinks cannot carry user xattrs */
  skip_xattrs(u, e, "xattrs on symlinks are not supported");
  struct timespec ts[2];
  if (utimensat(pfd, name, mtimes(e, ts), AT_SYMLINK_NOFOLLOW) < 0) entry_fail(u, "setting its mtime");
}

static void make_hardlink(struct unpacker *u, int pfd, const char *name, const struct tar_entry *e) {
  cleanup_free char *target = xmalloc(strlen(e->linkpath) + 1);
  if (!clean_path(e->linkpath, target))
    entry_die(u, "EUNSAFE", unsafe_fix, "hardlink target '%s' contains '..'", tar_short_name(e->linkpath));
  if (!*target) entry_die(u, "EUNSAFE", unsafe_fix, "hardlink to the root directory");
  char *slash = strrchr(target, '/');
  const char *tname = slash ? slash + 1 : target;
  if (slash) *slash = 0;
  /* The target's directory is resolved in-root like any path (not through the parent cache). */
  cleanup_fd int tpfd = open_dir_in_root(u, slash ? target : "", false);
  if (tpfd < 0) entry_fail(u, xasprintf("finding the directory of hardlink target '%s'", tar_short_name(e->linkpath)));
  if (linkat(tpfd, tname, pfd, name, 0) == 0) return;
  if (errno != EEXIST) entry_fail(u, xasprintf("linking to '%s'", tar_short_name(e->linkpath)));
  struct stat a, b;
  if (fstatat(tpfd, tname, &a, AT_SYMLINK_NOFOLLOW) == 0 && fstatat(pfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
      a.st_ino == b.st_ino && a.st_dev == b.st_dev)
    return;
  clear_slot(u, pfd, name);
  if (linkat(tpfd, tname, pfd, name, 0) < 0) entry_fail(u, xasprintf("linking to '%s'", tar_short_name(e->linkpath)));
}

static void make_fifo(struct unpacker *u, int pfd, const char *name, const struct tar_entry *e) {
  if (mknodat(pfd, name, S_IFIFO | (e->mode & 0777), 0) < 0) {
    if (errno != EEXIST) entry_fail(u, "creating the fifo");
    clear_slot(u, pfd, name);
    if (mknodat(pfd, name, S_IFIFO | (e->mode & 0777), 0) < 0) entry_fail(u, "creating the fifo");
  }
  if (!apply_owner(u, -1, pfd, name, e, true)) u->skip.owners++;
  if ((e->mode & 07000) && chmod_nofollow(pfd, name, e->mode) < 0) entry_fail(u, "setting its mode");
  skip_xattrs(u, e, "xattrs on fifos are not supported");
  struct timespec ts[2];
  if (utimensat(pfd, name, mtimes(e, ts), AT_SYMLINK_NOFOLLOW) < 0) entry_fail(u, "setting its mtime");
}

/* ---- whiteouts --------------------------------------------------------------------------- */

/* Removes everything below the open directory `fd` (cleaned path `path`) that this layer did
 * not put there: the effect of an opaque marker applied before the layer's own entries. */
static void make_opaque(struct unpacker *u, int fd, const char *path) {
  size_t len;
  cleanup_free char *names = list_dir(fd, &len);
  if (!names) entry_fail(u, xasprintf("listing '%s'", tar_short_name(path)));
  for (size_t off = 0; off < len;) {
    unsigned char type = (unsigned char)names[off];
    const char *child = names + off + 1;
    off += strlen(child) + 2;
    cleanup_free char *cpath = *path ? xasprintf("%s/%s", path, child) : xstrdup(child);
    if (!set_has(&u->touched, cpath)) {
      remove_or_die(u, fd, child);
    } else if (type == DT_DIR || type == DT_UNKNOWN) {
      cleanup_fd int cfd = openat(fd, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd >= 0) make_opaque(u, cfd, cpath);
      else if (errno != ENOTDIR && errno != ELOOP) entry_fail(u, xasprintf("opening '%s'", tar_short_name(cpath)));
    }
  }
}

static void opaque_dir(struct unpacker *u, const char *dir) {
  cleanup_fd int fd = *dir ? openat2_in_root(u->rootfd, dir, O_RDONLY | O_DIRECTORY) : open_dir_fd(u, u->rootfd, "");
  if (fd < 0) entry_fail(u, "opening the directory it makes opaque");
  make_opaque(u, fd, dir);
}

static void whiteout(struct unpacker *u, int pfd, const char *parent, const char *name) {
  if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
    entry_die(u, "EUNSAFE", unsafe_fix, "whiteout of '%s' would remove the directory itself or its parent", name);
  cleanup_free char *path = *parent ? xasprintf("%s/%s", parent, name) : xstrdup(name);
  if (!set_has(&u->touched, path)) {
    remove_or_die(u, pfd, name);
    return;
  }
  /* This layer already wrote `name`: the whiteout only hides what lower layers had there. */
  cleanup_fd int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) make_opaque(u, fd, path);
}

/* ---- layers ------------------------------------------------------------------------------ */

static void fix_dirs(struct unpacker *u) {
  /* Deepest last-made first, so a directory made read-only does not block its children. */
  for (size_t i = u->n_dirs; i-- > 0;) {
    struct dir_fix *d = &u->dirs[i];
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, d->mtime};
    if (!*d->path) {
      if (fchmod(u->rootfd, d->mode) < 0) die_with_error("setting the mode of the target");
      if (futimens(u->rootfd, ts) < 0) die_with_error("setting the mtime of the target");
    } else {
      char *slash = strrchr(d->path, '/');
      const char *name = slash ? slash + 1 : d->path;
      if (slash) *slash = 0;
      int pfd = d->dead ? -1 : parent_dir(u, slash ? d->path : "", false);
      /* Gone or replaced by a later entry of this layer: nothing to fix. Replaced through
       * another name too (an entry "link/x" through a symlink to the parent): a directory's
       * mode (04777, say) must never land on the file now there. */
      struct stat st;
      if (pfd >= 0 && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        (void)chmod_nofollow(pfd, name, d->mode);
        (void)utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
      }
    }
    free(d->path);
  }
  u->n_dirs = 0;
  free(u->dirmap.slots);
  u->dirmap = (struct dirmap){0};
}

static void apply_layer(struct unpacker *u, int fd, enum compression c) {
  struct layer_stream *s = layer_stream_open(fd, c, u->label, on_progress, u);
  struct tar_reader *r = tar_reader_new(s, u->label);
  struct tar_entry e;
  u->entries = 0;
  u->skip = (struct skipped){0};
  struct stat root_st;
  u->root_sgid = fstat(u->rootfd, &root_st) == 0 && (root_st.st_mode & S_ISGID);
  u->xattr_note[0] = 0;
  while (tar_next(r, &e)) {
    u->entries++;
    u->cur_name = e.path;
    size_t need = strlen(e.path) + 1;
    if (need > u->path_cap) u->path = xrealloc(u->path, u->path_cap = need * 2);
    if (!clean_path(e.path, u->path)) entry_die(u, "EUNSAFE", unsafe_fix, "the name contains '..'");
    char *slash = strrchr(u->path, '/');
    const char *name = slash ? slash + 1 : u->path;
    cleanup_free char *parent = slash ? strndup(u->path, (size_t)(slash - u->path)) : xstrdup("");
    if (!parent) die_oom();
    if (!u->plain && (!strncmp(parent, ".wh.", 4) || strstr(parent, "/.wh.")))
      entry_die(u, "EBADTAR", NULL, "a whiteout name is used as a directory");

    if (!u->plain && !strncmp(name, ".wh.", 4)) {
      set_add_path(&u->touched, parent);
      int pfd = parent_dir(u, parent, false);
      if (pfd < 0 && (errno == ENOENT || errno == ENOTDIR)) continue; /* nothing there to hide */
      if (pfd < 0) entry_fail(u, "finding its directory");
      if (!strcmp(name, ".wh..wh..opq")) opaque_dir(u, parent);
      else if (strncmp(name, ".wh..wh.", 8)) whiteout(u, pfd, parent, name + 4);
      /* other ".wh..wh." names are aufs bookkeeping with no meaning in OCI layers */
      continue;
    }
    if (e.type == TAR_CHAR || e.type == TAR_BLOCK) {
      u->skip.devices++; /* no user namespace may create device nodes; the sandbox provides /dev */
      continue;
    }
    if (!*name && e.type != TAR_DIR) entry_die(u, "EBADTAR", NULL, "only a directory entry may name the root");
    set_add_path(&u->touched, u->path);
    int pfd = parent_dir(u, parent, true);
    if (pfd < 0) entry_fail(u, "finding its directory");
    if (e.type != TAR_DIR && u->n_dirs) {
      /* A non-directory replaces a directory this layer made: that directory's fix is void. */
      size_t *slot = dirmap_slot(u, u->path);
      if (*slot) u->dirs[*slot - 1].dead = true;
    }
    switch (e.type) {
    case TAR_FILE: make_file(u, r, pfd, name, &e); break;
    case TAR_DIR: make_dir(u, pfd, name, &e); break;
    case TAR_SYMLINK: make_symlink(u, pfd, name, &e); break;
    case TAR_HARDLINK: make_hardlink(u, pfd, name, &e); break;
    case TAR_FIFO: make_fifo(u, pfd, name, &e); break;
    default: u->skip.other++; break;
    }
  }
  u->cur_name = NULL;
  fix_dirs(u);
  /* The compressed tail (gzip CRC, zstd frame end) must be there too. */
  layer_stream_drain(s);
  status_event("{\"event\":\"layer-done\",\"layer\":%d,\"entries\":%llu,\"bytesIn\":%llu,\"compression\":\"%s\","
               "\"skipped\":{\"devices\":%llu,\"xattrs\":%llu,\"owners\":%llu,\"other\":%llu}}",
               u->layer, (unsigned long long)u->entries, (unsigned long long)layer_stream_bytes_in(s),
               compression_name(layer_stream_compression(s)), (unsigned long long)u->skip.devices,
               (unsigned long long)u->skip.xattrs, (unsigned long long)u->skip.owners, (unsigned long long)u->skip.other);
  if (u->skip.devices)
    fprintf(stderr, "%s: layer %s: skipped %llu device node(s): a user namespace cannot create them (the sandbox provides /dev)\n",
            prog_name, u->label, (unsigned long long)u->skip.devices);
  if (u->skip.xattrs)
    fprintf(stderr, "%s: layer %s: skipped %llu xattr(s) the kernel refused (first: %s)\n", prog_name, u->label,
            (unsigned long long)u->skip.xattrs, u->xattr_note);
  if (u->skip.other)
    fprintf(stderr, "%s: layer %s: skipped %llu entry(ies) of unknown tar types\n", prog_name, u->label,
            (unsigned long long)u->skip.other);
  tar_reader_free(r);
  layer_stream_close(s);
  set_clear(&u->touched);
}

static void usage_die(const char *msg) {
  die_code("EUSAGE",
           "usage: crossroot-helper unpack --target DIR [--layer FILE]... [--compression auto|gzip|zstd|none] "
           "[--idmap auto|single|full|none] [--no-whiteouts] [--status-fd N]",
           "%s", msg);
}

int cmd_unpack(int argc, char **argv) {
  const char *target = NULL, *idmap = "auto";
  const char *layers[MAX_LAYERS];
  int n_layers = 0;
  enum compression comp = COMPRESSION_AUTO;
  bool plain = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--no-whiteouts")) { plain = true; continue; }
    if (i + 1 >= argc) usage_die(xasprintf("%s needs a value", a));
    if (!strcmp(a, "--target")) target = argv[++i];
    else if (!strcmp(a, "--layer")) {
      if (n_layers == MAX_LAYERS) usage_die("too many --layer options (at most 256)");
      layers[n_layers++] = argv[++i];
    } else if (!strcmp(a, "--compression")) comp = parse_compression(argv[++i]);
    else if (!strcmp(a, "--idmap")) idmap = argv[++i];
    else if (!strcmp(a, "--status-fd")) set_status_fd_arg(a, argv[++i]);
    else usage_die(xasprintf("unknown option '%s'", a));
  }
  if (!target || !*target) usage_die("--target DIR is required");
  if (strcmp(idmap, "none")) (void)parse_idmap_mode(idmap); /* a bad value fails before anything is opened */
  if (n_layers == 0) layers[n_layers++] = "-";

  /* Everything from the caller's world is opened before entering the namespace. */
  int fds[MAX_LAYERS];
  for (int i = 0; i < n_layers; i++) {
    fds[i] = strcmp(layers[i], "-") ? open(layers[i], O_RDONLY | O_CLOEXEC | O_NOCTTY) : fcntl(0, F_DUPFD_CLOEXEC, 3);
    if (fds[i] < 0) die_code("ENOLAYER", "check the path passed with --layer", "cannot open layer %s: %s", layers[i], strerror(errno));
  }
  if (mkdir(target, 0755) < 0 && errno != EEXIST) die_with_error("creating target %s", target);
  struct unpacker u = {.parent_fd = -1, .plain = plain};
  u.rootfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (u.rootfd < 0) die_with_error("opening target %s", target);
  umask(0);
  raise_fd_limit();

  const char *mode_name = "none";
  enum idmap_mode mode;
  if (enter_userns_unless_none(idmap, &mode)) {
    mode_name = idmap_mode_name(mode);
    u.owners = mode == IDMAP_FULL ? OWNERS_REAL : OWNERS_CALLER;
  } else {
    u.owners = geteuid() == 0 ? OWNERS_REAL : OWNERS_CALLER;
  }

  struct skipped total = {0};
  uint64_t total_entries = 0;
  for (int i = 0; i < n_layers; i++) {
    u.layer = i;
    u.label = strcmp(layers[i], "-") ? layers[i] : "<stdin>";
    apply_layer(&u, fds[i], comp);
    total_entries += u.entries;
    total.devices += u.skip.devices;
    total.xattrs += u.skip.xattrs;
    total.owners += u.skip.owners;
    total.other += u.skip.other;
  }
  if (total.owners)
    fprintf(stderr, "%s: %llu entries keep the caller as owner (%s id map); their archive owner is in the %s xattr\n",
            prog_name, (unsigned long long)total.owners, mode_name, OWNER_XATTR);
  status_event("{\"event\":\"done\",\"layers\":%d,\"entries\":%llu,\"idmap\":\"%s\","
               "\"skipped\":{\"devices\":%llu,\"xattrs\":%llu,\"owners\":%llu,\"other\":%llu}}",
               n_layers, (unsigned long long)total_entries, mode_name, (unsigned long long)total.devices,
               (unsigned long long)total.xattrs, (unsigned long long)total.owners, (unsigned long long)total.other);
  free(u.path);
  free(u.dirs);
  free(u.parent_path);
  if (u.parent_fd >= 0) close(u.parent_fd);
  close(u.rootfd);
  return 0;
}
