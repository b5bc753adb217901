/* User namespace entry and uid/gid maps (see idmap.h). The full map needs a process that stays
 * in the parent namespace to run newuidmap on us, so we fork it before unsharing, like
 * `unshare --map-auto` and rootlesskit do. */
#include "idmap.h"
#include "util.h"
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

enum idmap_mode parse_idmap_mode(const char *s) {
  if (!strcmp(s, "auto")) return IDMAP_AUTO;
  if (!strcmp(s, "single")) return IDMAP_SINGLE;
  if (!strcmp(s, "full")) return IDMAP_FULL;
  die_code("EUSAGE", "use --idmap auto, single or full", "unknown id map mode '%s'", s);
}

bool enter_userns_unless_none(const char *idmap, enum idmap_mode *mode_out) {
  if (strcmp(idmap, "none")) {
    *mode_out = enter_userns(parse_idmap_mode(idmap), 0);
    return true;
  }
  /* enter_userns sets no_new_privs once the setuid newuidmap has run; without it, we do. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_with_error("prctl(PR_SET_NO_NEW_PRIVS)");
  *mode_out = IDMAP_SINGLE;
  return false;
}

const char *idmap_mode_name(enum idmap_mode mode) {
  return mode == IDMAP_FULL ? "full" : mode == IDMAP_SINGLE ? "single" : "auto";
}

/* The login name for uid from /etc/passwd; getpwuid() would drag NSS into a static binary. */
static char *user_name(uid_t uid) {
  cleanup_free char *pw = read_file_at(AT_FDCWD, "/etc/passwd", NULL);
  if (!pw) return NULL;
  for (char *line = strtok(pw, "\n"); line; line = strtok(NULL, "\n")) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    if (strtoul(c2 + 1, NULL, 10) == uid && c2[1] != ':') {
      *c1 = 0;
      return xstrdup(line);
    }
  }
  return NULL;
}

bool subid_range(const char *file, uid_t id, unsigned long *start, unsigned long *count) {
  cleanup_free char *text = read_file_at(AT_FDCWD, file, NULL);
  cleanup_free char *name = user_name(id);
  char idstr[32];
  snprintf(idstr, sizeof idstr, "%u", (unsigned)id);
  if (!text) return false;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char owner[256], rest[256];
    unsigned long s, n;
    if (sscanf(line, "%255[^:]:%lu:%lu%255s", owner, &s, &n, rest) < 3) continue;
    if (n == 0 || (strcmp(owner, idstr) && (!name || strcmp(owner, name)))) continue;
    *start = s;
    *count = n;
    return true;
  }
  return false;
}

const char *find_newidmap(const char *name) {
  static const char *dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"};
  static char found[2][64];
  int slot = strcmp(name, "newuidmap") ? 1 : 0;
  for (size_t i = 0; i < N_ELEMENTS(dirs); i++) {
    snprintf(found[slot], sizeof found[slot], "%s/%s", dirs[i], name);
    if (access(found[slot], X_OK) == 0) return found[slot];
  }
  return NULL;
}

static long sysctl_value(const char *path) {
  cleanup_free char *v = read_file_at(AT_FDCWD, path, NULL);
  return v ? strtol(v, NULL, 10) : -1;
}

const char *userns_fix(void) {
  if (sysctl_value("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
    return "AppArmor forbids unprivileged user namespaces: run `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` "
           "(persist it in /etc/sysctl.d/), or install an AppArmor profile that grants `userns,` to crossroot-helper";
  if (sysctl_value("/proc/sys/kernel/unprivileged_userns_clone") == 0)
    return "unprivileged user namespaces are disabled: run `sudo sysctl -w kernel.unprivileged_userns_clone=1` (persist it in /etc/sysctl.d/)";
  if (sysctl_value("/proc/sys/user/max_user_namespaces") == 0)
    return "user namespaces are disabled: run `sudo sysctl -w user.max_user_namespaces=15000` (persist it in /etc/sysctl.d/)";
  return "the kernel refused a user namespace (a container or seccomp policy may forbid it); "
         "check `sysctl user.max_user_namespaces` and whether this runs inside a restricted container";
}

/* One of newuidmap/newgidmap, started before the unshare (it must run in the parent
 * namespace): it waits for a byte on go[0], then maps the target. Both run at once. */
static pid_t spawn_map_tool(const int go[2], bool quiet, const char *tool, pid_t target, unsigned id,
                            unsigned long start, unsigned long count) {
  char spid[32], sid[32], sst[32], sn[32];
  snprintf(spid, sizeof spid, "%d", target);
  snprintf(sid, sizeof sid, "%u", id);
  snprintf(sst, sizeof sst, "%lu", start);
  snprintf(sn, sizeof sn, "%lu", count);
  char *argv[] = {(char *)find_newidmap(tool), spid, "0", sid, "1", "1", sst, sn, NULL};
  pid_t pid = fork();
  if (pid < 0) die_with_error("fork");
  if (pid == 0) {
    char c;
    close(go[1]); /* so that the parent closing its end means EOF here */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (read(go[0], &c, 1) != 1) _exit(1);
    if (quiet) {
      int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (null >= 0) dup2(null, 2);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static bool wait_ok(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

__attribute__((noreturn)) static void die_unshare(int e) {
  errno = e;
  if (e == EPERM || e == EACCES) die_code("EUSERNS", userns_fix(), "cannot create a user namespace: %s", strerror(e));
  if ((e == ENOSPC || e == EUSERS) && sysctl_value("/proc/sys/user/max_user_namespaces") == 0)
    die_code("EUSERNS", userns_fix(), "user namespaces are disabled here (user.max_user_namespaces = 0)");
  if (e == ENOSPC || e == EUSERS)
    die_code("EUSERNS", "raise the limit: sudo sysctl -w user.max_user_namespaces=15000", "too many user namespaces: %s",
             strerror(e));
  die_with_error("unshare");
}

/* The last step either way: uid/gid 0 inside, then no_new_privs (not earlier: the setuid
 * newuidmap must still gain its privilege). */
static enum idmap_mode become_root(enum idmap_mode mode) {
  /* Supplementary groups of the host user show up as nobody inside; with a full map we may drop them. */
  if (mode == IDMAP_FULL && setgroups(0, NULL) < 0) die_with_error("setgroups");
  if (setresgid(0, 0, 0) < 0) die_with_error("setresgid");
  if (setresuid(0, 0, 0) < 0) die_with_error("setresuid");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_with_error("prctl(PR_SET_NO_NEW_PRIVS)");
  return mode;
}

static void write_single_map(const char *file, unsigned id) {
  char line[64];
  snprintf(line, sizeof line, "0 %u 1\n", id);
  int r = write_file_at(AT_FDCWD, file, line);
  if (r < 0) {
    errno = -r;
    die_with_error("writing %s", file);
  }
}

enum idmap_mode enter_userns_direct(enum idmap_mode mode, int extra_clone_flags) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  unsigned long us = 0, un = 0, gs = 0, gn = 0;
  bool have_range = mode != IDMAP_SINGLE && subid_range("/etc/subuid", uid, &us, &un) && subid_range("/etc/subgid", uid, &gs, &gn);
  bool have_tools = mode != IDMAP_SINGLE && find_newidmap("newuidmap") && find_newidmap("newgidmap");

  if (mode == IDMAP_FULL && !have_range)
    die_code("ENOSUBID", "add a range for this user: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER",
             "--idmap full needs a subordinate id range for uid %u in /etc/subuid and /etc/subgid", (unsigned)uid);
  if (mode == IDMAP_FULL && !have_tools)
    die_code("ENONEWUIDMAP", "install newuidmap/newgidmap: apt-get install uidmap (Fedora/Arch: shadow-utils / shadow)",
             "--idmap full needs newuidmap and newgidmap");
  bool fallback_ok = mode == IDMAP_AUTO;
  if (mode == IDMAP_AUTO) mode = have_range && have_tools ? IDMAP_FULL : IDMAP_SINGLE;

  int go[2] = {-1, -1};
  pid_t uid_tool = -1, gid_tool = -1;
  if (mode == IDMAP_FULL) {
    if (pipe2(go, O_CLOEXEC) < 0) die_with_error("pipe2");
    uid_tool = spawn_map_tool(go, fallback_ok, "newuidmap", getpid(), (unsigned)uid, us, un);
    gid_tool = spawn_map_tool(go, fallback_ok, "newgidmap", getpid(), (unsigned)gid, gs, gn);
    close(go[0]);
  }

  if (unshare(CLONE_NEWUSER | extra_clone_flags) < 0) {
    int e = errno;
    if (uid_tool > 0) {
      close(go[1]); /* EOF: the tools exit without mapping */
      wait_ok(uid_tool);
      wait_ok(gid_tool);
    }
    die_unshare(e);
  }

  bool uid_done = false, gid_done = false;
  if (uid_tool > 0) {
    if (write_all(go[1], "xx", 2) < 0) die_with_error("waking newuidmap/newgidmap");
    close(go[1]);
    uid_done = wait_ok(uid_tool);
    gid_done = wait_ok(gid_tool);
    /* In auto mode a refused tool (e.g. not setuid in this container) falls back to a single
     * map for that id kind; an explicit --idmap full fails instead. */
    if (!uid_done || !gid_done) {
      if (!fallback_ok)
        die_code("ENEWUIDMAP",
                 "check that newuidmap/newgidmap are setuid root (or have cap_setuid/cap_setgid file caps) and that "
                 "/etc/subuid and /etc/subgid list this user; or use --idmap single",
                 "%s failed for the range in %s", uid_done ? "newgidmap" : "newuidmap", uid_done ? "/etc/subgid" : "/etc/subuid");
      mode = IDMAP_SINGLE;
    }
  }
  if (!uid_done) write_single_map("/proc/self/uid_map", (unsigned)uid);
  if (!gid_done) {
    int r = write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny");
    if (r < 0 && r != -ENOENT) {
      errno = -r;
      die_with_error("writing /proc/self/setgroups");
    }
    write_single_map("/proc/self/gid_map", (unsigned)gid);
  }
  return become_root(mode);
}

int unshare_mapped(int extra_clone_flags, const char *uid_map, const char *gid_map) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) < 0) die_with_error("pipe2");
  /* getpid() as this pid namespace's /proc names us: the mapper shares both with us. */
  pid_t target = getpid();
  pid_t mapper = fork();
  if (mapper < 0) die_with_error("fork");
  if (mapper == 0) {
    char c, path[64];
    close(go[1]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (read(go[0], &c, 1) != 1) _exit(1);
    snprintf(path, sizeof path, "/proc/%d/uid_map", target);
    if (write_file_at(AT_FDCWD, path, uid_map) < 0) _exit(1);
    snprintf(path, sizeof path, "/proc/%d/gid_map", target);
    _exit(write_file_at(AT_FDCWD, path, gid_map) < 0);
  }
  close(go[0]);
  if (unshare(CLONE_NEWUSER | extra_clone_flags) < 0) {
    int e = errno;
    close(go[1]);
    wait_ok(mapper);
    return -e;
  }
  if (write_all(go[1], "x", 1) < 0) die_with_error("waking the id mapper");
  close(go[1]);
  if (!wait_ok(mapper)) die("writing the id maps of the sandbox's user namespace failed");
  return 0;
}

/* Inside the keeper's user namespace we hold CAP_SETUID/CAP_SETGID over its whole range, so a
 * forked helper may write our new namespace's maps itself: 0..N onto the keeper's 0..N, as two
 * lines like the keeper's own map (an extent must map into a single extent of the parent). */
static enum idmap_mode enter_nested(int extra_clone_flags, unsigned long uids, unsigned long gids) {
  char uid_map[64], gid_map[64];
  snprintf(uid_map, sizeof uid_map, "0 0 1\n1 1 %lu\n", uids);
  snprintf(gid_map, sizeof gid_map, "0 0 1\n1 1 %lu\n", gids);
  int r = unshare_mapped(extra_clone_flags, uid_map, gid_map);
  if (r < 0) die_unshare(-r);
  return become_root(IDMAP_FULL);
}

enum idmap_mode enter_userns(enum idmap_mode mode, int extra_clone_flags) {
  unsigned long us, un, gs, gn;
  if (mode != IDMAP_SINGLE && subid_range("/etc/subuid", getuid(), &us, &un) && subid_range("/etc/subgid", getuid(), &gs, &gn) &&
      find_newidmap("newuidmap") && find_newidmap("newgidmap") && keeper_join(un, gn))
    return enter_nested(extra_clone_flags, un, gn);
  return enter_userns_direct(mode, extra_clone_flags);
}
