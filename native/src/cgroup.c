/* Memory and pids limits through a delegated cgroup v2, as rootless runtimes do with cgroupfs.
 * Where the sandbox's cgroup goes: cgroup v2 forbids a cgroup that holds processes from
 * enabling controllers for its children ("no internal processes"), and the caller's own cgroup
 * holds the caller (and, in a terminal or VS Code, many of the user's other processes, which are
 * not ours to move). So the sandbox gets a *sibling* leaf, PARENT/crossroot-PID, where PARENT is
 * the parent of the caller's cgroup: the caller's cgroup.controllers lists exactly what PARENT
 * enables for its children, so nothing has to be enabled, and moving a process between two
 * siblings needs write access to PARENT's cgroup.procs, which a delegated tree (systemd's
 * user@UID.service and everything below it) gives its user. */
#include "cgroup.h"
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#define CGROUP_MOUNT "/sys/fs/cgroup"
#define FIX_HOST "use a host that mounts only cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line) with systemd user delegation, or remove [limits]"
#define FIX_DELEGATION "start it from your systemd user session's delegated cgroup tree: systemd-run --user --scope CMD " \
  "(or cap the whole command: systemd-run --user --scope -p MemoryMax=BYTES -p TasksMax=N CMD)"

static void warn_not_applied(const char *fix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_not_applied(const char *fix, const char *fmt, ...) {
  char why[1024], w[2048], f[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: warning: memory/pids limits not applied: %s; fix: %s\n", prog_name, why, fix);
  json_escape(w, sizeof w, why);
  json_escape(f, sizeof f, fix);
  status_event("{\"event\":\"warning\",\"code\":\"ENOCGROUP\",\"message\":\"memory/pids limits not applied: %s\",\"fix\":\"%s\"}", w, f);
}

/* The caller's cgroup v2 path, from the "0::PATH" line of /proc/self/cgroup. */
static char *own_cgroup(void) {
  const char *self = getenv("CROSSROOT_CGROUP_SELF");
  if (self) return xstrdup(self);
  cleanup_free char *text = read_file_at(AT_FDCWD, "/proc/self/cgroup", NULL);
  for (char *line = text; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (!strncmp(line, "0::/", 4)) return xstrdup(line + 3);
    line = nl ? nl + 1 : NULL;
  }
  return NULL;
}

static bool has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; (p = strstr(p, word)); p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n')) return true;
  return false;
}

static int cgroup_file_flags(const struct sandbox_cgroup *cg) {
  /* Real cgroup interface files exist as soon as the directory does; the test tree's do not. */
  return O_WRONLY | O_CLOEXEC | O_NOCTTY | (cg->fake ? O_CREAT | O_TRUNC : 0);
}

static int write_limit(const struct sandbox_cgroup *cg, const char *name, unsigned long long value) {
  cleanup_free char *path = xasprintf("%s/%s", cg->dir, name);
  char text[32];
  snprintf(text, sizeof text, "%llu\n", value);
  cleanup_fd int fd = open(path, cgroup_file_flags(cg), 0644);
  return fd < 0 || write_all(fd, text, strlen(text)) < 0 ? -errno : 0;
}

void cgroup_prepare(const struct sandbox *sb, struct sandbox_cgroup *cg) {
  *cg = (struct sandbox_cgroup){.parent_fd = -1, .procs_fd = -1, .go = {-1, -1}};
  if (!sb->memory_max && !sb->pids_max) return;
  /* Tests point this at a tree of plain files to check what gets written; the host check
   * below is the real one. */
  const char *root = getenv("CROSSROOT_CGROUP_ROOT");
  cg->fake = root != NULL;
  if (!root) {
    root = CGROUP_MOUNT;
    struct statfs fs;
    if (statfs(root, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
      { warn_not_applied(FIX_HOST, "%s is not a cgroup v2 mount (this host uses cgroup v1 or a hybrid of v1 and v2)", root); return; }
  }
  cleanup_free char *own = own_cgroup();
  if (!own) { warn_not_applied(FIX_HOST, "/proc/self/cgroup names no cgroup v2 path"); return; }
  if (!strcmp(own, "/")) { warn_not_applied(FIX_DELEGATION, "you are in the root cgroup, which is not delegated to you"); return; }
  cleanup_free char *controllers_path = xasprintf("%s%s/cgroup.controllers", root, own);
  cleanup_free char *controllers = read_file_at(AT_FDCWD, controllers_path, NULL);
  if (!controllers) { warn_not_applied(FIX_DELEGATION, "cannot read %s: %s", controllers_path, strerror(errno)); return; }
  const char *missing = sb->memory_max && !has_word(controllers, "memory") ? "memory"
                        : sb->pids_max && !has_word(controllers, "pids") ? "pids" : NULL;
  if (missing) { warn_not_applied(FIX_DELEGATION, "the %s controller is not enabled for your cgroup %s", missing, own); return; }
  *strrchr(own, '/') = 0; /* the parent; "" for a top-level cgroup */
  cg->dir = xasprintf("%s%s/crossroot-%d", root, own, getpid());
  cleanup_free char *parent = xasprintf("%s%s", root, own);
  int r = (cg->parent_fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ? -errno : 0;
  if (r == 0 && mkdirat(cg->parent_fd, strrchr(cg->dir, '/') + 1, 0755) < 0) r = -errno;
  if (r == 0 && sb->memory_max) r = write_limit(cg, "memory.max", sb->memory_max);
  if (r == 0 && sb->pids_max) r = write_limit(cg, "pids.max", sb->pids_max);
  cleanup_free char *procs = xasprintf("%s/cgroup.procs", cg->dir);
  if (r == 0 && (cg->procs_fd = open(procs, cgroup_file_flags(cg), 0644)) < 0) r = -errno;
  if (r == 0 && pipe2(cg->go, O_CLOEXEC) < 0) r = -errno;
  if (r < 0) {
    warn_not_applied(FIX_DELEGATION, "cannot set up cgroup %s: %s", cg->dir, strerror(-r));
    cgroup_close(cg);
    cgroup_remove(cg);
  }
}

void cgroup_join(const char *dir, struct sandbox_cgroup *cg) {
  *cg = (struct sandbox_cgroup){.parent_fd = -1, .procs_fd = -1, .go = {-1, -1}, .fake = getenv("CROSSROOT_CGROUP_ROOT") != NULL};
  cleanup_free char *procs = xasprintf("%s/cgroup.procs", dir);
  cg->procs_fd = open(procs, cgroup_file_flags(cg), 0644);
  if (cg->procs_fd < 0 || pipe2(cg->go, O_CLOEXEC) < 0) {
    warn_not_applied(FIX_DELEGATION, "cannot enter the instance's cgroup %s: %s", dir, strerror(errno));
    cgroup_close(cg);
    return;
  }
  cg->dir = xstrdup(dir);
}

void cgroup_child_wait(struct sandbox_cgroup *cg) {
  if (!cg->dir) return;
  close(cg->go[1]);
  close(cg->procs_fd);
  if (cg->parent_fd >= 0) close(cg->parent_fd);
  char c;
  ssize_t n;
  while ((n = read(cg->go[0], &c, 1)) < 0 && errno == EINTR) {}
  if (n != 1) _exit(125); /* the parent died before moving us: it already said why, or was killed */
  close(cg->go[0]);
}

void cgroup_add(struct sandbox_cgroup *cg, pid_t pid) {
  if (!cg->dir) return;
  char text[32];
  snprintf(text, sizeof text, "%d\n", pid);
  if (write_all(cg->procs_fd, text, strlen(text)) < 0)
    warn_not_applied(FIX_DELEGATION, "cannot move the sandbox into cgroup %s: %s", cg->dir, strerror(errno));
  if (write_all(cg->go[1], "G", 1) < 0) die_with_error("releasing the sandbox");
  cgroup_close(cg);
}

void cgroup_close(struct sandbox_cgroup *cg) {
  int *fds[] = {&cg->procs_fd, &cg->go[0], &cg->go[1]};
  for (size_t i = 0; i < N_ELEMENTS(fds); i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
}

static void remove_at(int parent_fd, const char *name) {
  /* The test tree's files are plain files, which would keep rmdir from succeeding; a real
   * cgroup directory is removed with its interface files. */
  if (getenv("CROSSROOT_CGROUP_ROOT")) {
    cleanup_fd int dfd = openat(parent_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *files[] = {"memory.max", "pids.max", "cgroup.procs"};
    for (size_t i = 0; dfd >= 0 && i < N_ELEMENTS(files); i++) unlinkat(dfd, files[i], 0);
  }
  /* Exited tasks leave a cgroup shortly after their parent has reaped them: retry EBUSY a bit. */
  for (int i = 0; i < 200 && unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno == EBUSY; i++)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* A real directory (not a link) that belongs to the caller. */
static bool owned_dir(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid();
}

bool cgroup_is_sandbox_dir(const char *dir) {
  const char *root = getenv("CROSSROOT_CGROUP_ROOT");
  if (!root) root = CGROUP_MOUNT;
  size_t rl = strlen(root);
  if (strncmp(dir, root, rl) || dir[rl] != '/') return false;
  /* No "", "." or ".." part: the path means what it spells. The last part is crossroot-PID. */
  const char *rel = dir + rl, *last = NULL;
  for (const char *p = rel; *p == '/'; p += strcspn(p + 1, "/") + 1) {
    size_t n = strcspn(p + 1, "/");
    if (n == 0 || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.')) return false;
    last = p + 1;
  }
  if (!last || strncmp(last, "crossroot-", 10) || !last[10] || strspn(last + 10, "0123456789") != strlen(last + 10)) return false;
  /* The delegated subtree: the topmost cgroup from the caller's own upwards that is the caller's
   * (systemd hands user@UID.service and all below it to the user). */
  cleanup_free char *own = own_cgroup();
  if (!own || own[0] != '/') return false;
  cleanup_free char *top = NULL;
  for (;;) {
    cleanup_free char *path = xasprintf("%s%s", root, own);
    if (!owned_dir(path)) break;
    free(top);
    top = xstrdup(own);
    char *slash = strrchr(own, '/');
    if (slash == own) break;
    *slash = 0;
  }
  if (!top) return false;
  /* dir's parent is that subtree or below it, and dir itself is a cgroup the caller made. */
  size_t tl = strcmp(top, "/") ? strlen(top) : 0;
  size_t parent_len = (size_t)(last - 1 - rel);
  if (parent_len < tl || strncmp(rel, top, tl) || (parent_len > tl && rel[tl] != '/')) return false;
  return owned_dir(dir);
}

void cgroup_remove_dir(const char *dir) {
  cleanup_free char *parent = xstrdup(dir);
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) return;
  *slash = 0;
  cleanup_fd int fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) remove_at(fd, slash + 1);
}

void cgroup_remove(struct sandbox_cgroup *cg) {
  if (cg->dir && cg->parent_fd >= 0) remove_at(cg->parent_fd, strrchr(cg->dir, '/') + 1);
  if (cg->parent_fd >= 0) close(cg->parent_fd);
  cg->parent_fd = -1;
  free(cg->dir);
  cg->dir = NULL;
}
