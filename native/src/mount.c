/* The sandbox's root: overlay or bind of the rootfs, /proc, private binfmt_misc, a minimal
 * /dev, /tmp, the host's resolv.conf and hosts, user binds, then pivot_root. Runs as PID 1 of
 * the new pid namespace (a proc mount shows the pid namespace of whoever mounts it).
 * Every target inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT) and mounted through
 * its /proc/self/fd path, so a symlink in the rootfs can never aim a mount at a host path. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

enum target_kind { TARGET_DIR, TARGET_FILE };

static int openat2_in_root(int rootfd, const char *path, int flags, mode_t mode) {
  struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .mode = mode,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* Opens path (absolute, inside the root) as O_PATH, creating it and missing parent dirs. Returns
 * -errno when it cannot exist (e.g. read-only plain rootfs). */
static int open_target(int rootfd, const char *path, enum target_kind kind) {
  int fd = openat2_in_root(rootfd, path, O_PATH, 0);
  if (fd >= 0 || errno != ENOENT) return fd >= 0 ? fd : -errno;
  cleanup_free char *parent = xstrdup(path);
  char *slash = strrchr(parent, '/');
  const char *name = path + (slash - parent) + 1;
  if (slash == parent) parent[1] = 0;
  else *slash = 0;
  int pfd = open_target(rootfd, parent, TARGET_DIR);
  if (pfd < 0) return pfd;
  /* O_PATH fds cannot be used to create entries; reopen the parent as a directory. */
  char via[64];
  snprintf(via, sizeof via, "/proc/self/fd/%d", pfd);
  cleanup_fd int dfd = open(via, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close(pfd);
  if (dfd < 0) return -errno;
  int r = kind == TARGET_DIR ? mkdirat(dfd, name, 0755) : 0;
  if (kind == TARGET_FILE) {
    int f = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    r = f < 0 ? -1 : close(f);
  }
  if (r < 0 && errno != EEXIST) return -errno;
  fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  /* Still a symlink: it leads to nothing inside the rootfs (resolved in-root above). */
  struct stat st;
  if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
    close(fd);
    return -ELOOP;
  }
  return fd;
}

/* The mount point for path, opened (created when missing) in the rootfs; dies with a fix-it. */
static int target_fd(int rootfd, const char *path, enum target_kind kind) {
  int fd = open_target(rootfd, path, kind);
  if (fd == -ELOOP)
    die_code("EROOTFS", "make it a real directory or file in the rootfs; symlinks there are resolved inside the rootfs",
             "mount point %s in the rootfs is a symlink that does not resolve to a path inside the rootfs", path);
  if (fd == -EACCES || fd == -EPERM || fd == -EROFS)
    die_code("EROOTFS", "run it over an overlay (--upper DIR --work DIR), or create the directory in the rootfs",
             "cannot create mount point %s in the read-only rootfs: %s", path, strerror(-fd));
  if (fd < 0) {
    errno = -fd;
    die_with_error("cannot create mount point %s in the rootfs", path);
  }
  return fd;
}

static void mount_on(int rootfd, const char *path, enum target_kind kind, const char *source, const char *fstype,
                     unsigned long flags, const char *data) {
  cleanup_fd int fd = target_fd(rootfd, path, kind);
  char via[64];
  snprintf(via, sizeof via, "/proc/self/fd/%d", fd);
  if (mount(source, via, fstype, flags, data) < 0) die_with_error("mounting %s on %s", fstype ? fstype : source, path);
}

/* A recursive bind of host path source onto the open mount point fd. A read-only one is made
 * read-only (with every submount; mount_setattr keeps the flags the kernel locked) while still
 * detached, then moved into place: resolving path a second time after mounting would let a
 * process renaming things in a shared rootfs turn the flag onto another mount. */
static void bind_onto(int fd, const char *source, bool readonly, const char *path) {
  cleanup_fd int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) die_with_error("binding %s", source);
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (readonly && mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
    die_with_error("making %s read-only", path);
  if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) die_with_error("binding %s on %s", source, path);
}

static void setup_dev(int rootfd) {
  mount_on(rootfd, "/dev", TARGET_DIR, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m");
  static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < N_ELEMENTS(nodes); i++) {
    char host[32], inside[32];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    snprintf(inside, sizeof inside, "/dev/%s", nodes[i]);
    /* A user namespace cannot mknod devices; binding the host's nodes is what bwrap does. */
    mount_on(rootfd, inside, TARGET_FILE, host, NULL, MS_BIND, NULL);
  }
  mount_on(rootfd, "/dev/pts", TARGET_DIR, "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
  mount_on(rootfd, "/dev/shm", TARGET_DIR, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  /* The caller's terminal lives in the host's devpts, which the sandbox cannot see; bound at
   * /dev/console, ttyname() finds it there (glibc scans /dev for the device), as in bwrap. */
  char tty[64];
  if (isatty(0) && ttyname_r(0, tty, sizeof tty) == 0) mount_on(rootfd, "/dev/console", TARGET_FILE, tty, NULL, MS_BIND, NULL);
  cleanup_fd int dev = openat2_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0);
  if (dev < 0) die_with_error("opening /dev of the sandbox");
  static const char *links[][2] = {{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                                   {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}};
  for (size_t i = 0; i < N_ELEMENTS(links); i++)
    if (symlinkat(links[i][0], dev, links[i][1]) < 0) die_with_error("creating /dev/%s", links[i][1]);
}

/* resolv.conf and hosts come from the host so DNS works as it does outside. When the rootfs
 * cannot take a mount point (read-only plain rootfs), the sandbox goes without and says so. */
static void bind_host_file(int rootfd, const char *path) {
  if (access(path, R_OK) < 0) return;
  int fd = open_target(rootfd, path, TARGET_FILE);
  if (fd < 0) {
    status_event("{\"event\":\"note\",\"message\":\"%s not bound from the host: %s\"}", path, strerror(-fd));
    return;
  }
  bind_onto(fd, path, true, path);
  close(fd);
}

/* The rootfs as an overlay: --lower layers (top first, as overlayfs wants them) over the rootfs,
 * with upper/work when given (read-only otherwise). Built through fsopen/fsconfig: one
 * "lowerdir+" per layer has no length limit, where the mount(2) option string stops at a page
 * (about 40 store paths). Mounted on top of the rootfs dir itself: no staging dir is needed,
 * overlayfs holds its own references to the layers. */
static void mount_overlay(const struct sandbox *sb) {
  const char *fix = "put upper and work on the same filesystem (not overlayfs itself, not NFS), and use an empty work dir";
  cleanup_fd int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) die_code("EOVERLAY", fix, "cannot create an overlay: %s", strerror(errno));
  for (size_t i = sb->n_lowers; i-- > 0;)
    if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", sb->lowers[i], 0) < 0)
      die_code("EOVERLAY", fix, "overlay layer %s: %s", sb->lowers[i], strerror(errno));
  if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", sb->rootfs, 0) < 0)
    die_code("EOVERLAY", fix, "overlay lower %s: %s", sb->rootfs, strerror(errno));
  if (sb->upper && (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", sb->upper, 0) < 0 ||
                    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", sb->work, 0) < 0))
    die_code("EOVERLAY", fix, "overlay upper %s / work %s: %s", sb->upper, sb->work, strerror(errno));
  if (fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0 || fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    die_code("EOVERLAY", fix, "cannot mount overlay (lower %s, %zu layers, upper %s): %s", sb->rootfs, sb->n_lowers,
             sb->upper ? sb->upper : "none", strerror(errno));
  cleanup_fd int mnt = fsmount(fs, FSMOUNT_CLOEXEC, sb->upper ? 0 : MOUNT_ATTR_RDONLY);
  if (mnt < 0) die_code("EOVERLAY", fix, "cannot mount overlay on %s: %s", sb->rootfs, strerror(errno));
  if (move_mount(mnt, "", AT_FDCWD, sb->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0) die_with_error("attaching the overlay on %s", sb->rootfs);
}

/* A file whose text the helper makes (resolv.conf of a private network), bound read-only onto
 * path: written to the sandbox's own /dev tmpfs, bound, then unlinked there (the bind keeps it). */
static void bind_text_file(int rootfd, const char *path, const char *text) {
  int fd = open_target(rootfd, path, TARGET_FILE);
  if (fd < 0) {
    status_event("{\"event\":\"note\",\"message\":\"%s not made: %s\"}", path, strerror(-fd));
    return;
  }
  cleanup_fd int dev = openat2_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0);
  const char *name = ".crossroot-file";
  cleanup_fd int f = dev < 0 ? -1 : openat(dev, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (f < 0 || write_all(f, text, strlen(text)) < 0) die_with_error("writing %s for the sandbox", path);
  cleanup_free char *source = xasprintf("/proc/self/fd/%d/%s", dev, name);
  bind_onto(fd, source, true, path);
  if (unlinkat(dev, name, 0) < 0) die_with_error("removing the staging copy of %s", path);
  close(fd);
}

void sandbox_setup_root(const struct sandbox *sb) {
  /* The first mount: refused here, the user namespace has no capabilities (AppArmor's restriction). */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    if (errno == EPERM || errno == EACCES)
      die_code("EUSERNS", userns_fix(), "the user namespace may not mount (making / private): %s", strerror(errno));
    die_with_error("making / private");
  }
  if (sb->upper || sb->n_lowers) {
    mount_overlay(sb);
  } else if (mount(sb->rootfs, sb->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
    die_with_error("binding rootfs %s", sb->rootfs);
  }
  cleanup_fd int rootfd = open(sb->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_with_error("opening rootfs %s", sb->rootfs);

  mount_on(rootfd, "/proc", TARGET_DIR, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  if (sb->arch) {
    /* Through the proc just mounted, wherever an in-rootfs symlink put it: the rootfs path
     * spelled out would follow that symlink on the host. */
    cleanup_fd int proc = openat2_in_root(rootfd, "/proc", O_PATH | O_DIRECTORY, 0);
    if (proc < 0) die_with_error("opening /proc of the sandbox");
    cleanup_free char *binfmt = xasprintf("/proc/self/fd/%d/sys/fs/binfmt_misc", proc);
    binfmt_register(sb, binfmt);
  }
  setup_dev(rootfd);
  mount_on(rootfd, "/tmp", TARGET_DIR, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  if (sb->network == NETWORK_PRIVATE) {
    cleanup_free char *resolv = net_resolv_conf();
    bind_text_file(rootfd, "/etc/resolv.conf", resolv);
  } else {
    bind_host_file(rootfd, "/etc/resolv.conf");
  }
  bind_host_file(rootfd, "/etc/hosts");
  for (size_t i = 0; i < sb->n_binds; i++) {
    const struct bind *b = &sb->binds[i];
    struct stat st;
    if (stat(b->source, &st) < 0) die_with_error("bind source %s", b->source);
    cleanup_fd int fd = target_fd(rootfd, b->target, S_ISDIR(st.st_mode) ? TARGET_DIR : TARGET_FILE);
    bind_onto(fd, b->source, b->readonly, b->target);
  }

  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
   * the new root, with no directory needed for the old one. */
  if (fchdir(rootfd) < 0) die_with_error("chdir to the new root");
  if (syscall(SYS_pivot_root, ".", ".") < 0) die_with_error("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) die_with_error("detaching the old root");
  if (chdir("/") < 0) die_with_error("chdir /");
}
