/* The user namespace keeper: one process per user that holds a fully mapped user namespace (made
 * once with newuidmap/newgidmap), so that sandboxes create theirs *inside* it and write their
 * own identity maps, instead of running the two setuid tools every time (about 1.3 ms of the
 * 3.2 ms a `run` took). Podman's rootless pause process does the same. Each sandbox still gets
 * its own user namespace (and so its own binfmt_misc). The keeper exits after KEEPER_IDLE
 * seconds without a join; state lives in $XDG_RUNTIME_DIR/crossroot or /tmp/crossroot-UID. */
#include "idmap.h"
#include "util.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define KEEPER_IDLE 60

/* A directory only we can write, or NULL: in a shared /tmp someone else may have made it. */
static char *keeper_dir(void) {
  uid_t uid = getuid();
  const char *rt = getenv("XDG_RUNTIME_DIR");
  char *dir = rt && rt[0] == '/' ? xasprintf("%s/crossroot", rt) : xasprintf("/tmp/crossroot-%u", (unsigned)uid);
  struct stat st;
  if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid ||
      (st.st_mode & 077)) {
    free(dir);
    return NULL;
  }
  return dir;
}

/* setns into the recorded keeper's user namespace, after checking through a pidfd that the pid
 * still names that very process. */
static bool try_join(const char *state, unsigned long uids, unsigned long gids) {
  cleanup_free char *text = read_file_at(AT_FDCWD, state, NULL);
  int pid = 0;
  unsigned long long start = 0;
  unsigned long u = 0, g = 0;
  /* A keeper made before /etc/subuid changed maps another range: not ours to use. */
  if (!text || sscanf(text, "{\"pid\":%d,\"starttime\":%llu,\"uids\":%lu,\"gids\":%lu", &pid, &start, &u, &g) != 4 ||
      pid <= 0 || u != uids || g != gids)
    return false;
  cleanup_fd int pidfd = pidfd_open(pid, 0);
  if (pidfd < 0 || proc_starttime(pid) != start || setns(pidfd, CLONE_NEWUSER) < 0) return false;
  utimensat(AT_FDCWD, state, NULL, 0); /* used now: keeps the keeper alive */
  return true;
}

__attribute__((noreturn)) static void keeper_main(const char *state, int ready, unsigned long uids, unsigned long gids) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; fd++)
    if (null < 0 || dup2(null, fd) < 0) _exit(1);
  status_fd = -1;
  /* `run` blocks the signals it forwards before it gets here; the keeper must die of SIGTERM. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  prctl(PR_SET_NAME, "crossroot-keep");
  if (chdir("/") < 0) _exit(1);
  enter_userns_direct(IDMAP_FULL, 0); /* exits when the tools refuse; the caller then maps itself */
  cleanup_free char *json =
      xasprintf("{\"pid\":%d,\"starttime\":%llu,\"uids\":%lu,\"gids\":%lu}\n", getpid(), proc_starttime(getpid()), uids, gids);
  cleanup_free char *tmp = xasprintf("%s.%d", state, getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || write_all(fd, json, strlen(json)) < 0 || close(fd) < 0 || rename(tmp, state) < 0) _exit(1);
  if (write_all(ready, "R", 1) < 0) _exit(1);
  /* Nothing of the caller's stays open (its lock included). */
  if (close_range(3, ~0U, 0) < 0) _exit(1);
  for (;;) {
    sleep(10);
    struct stat st;
    cleanup_free char *now = read_file_at(AT_FDCWD, state, NULL);
    bool ours = now && !strcmp(now, json);
    if (ours && stat(state, &st) == 0 && time(NULL) - st.st_mtime <= KEEPER_IDLE) continue;
    if (ours) unlink(state);
    _exit(0); /* sandboxes made inside keep the namespace alive as long as they run */
  }
}

static bool spawn_keeper(const char *state, unsigned long uids, unsigned long gids) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return false;
  pid_t mid = fork();
  if (mid < 0) return false;
  if (mid == 0) {
    /* Its own session, and reparented to the host's init once this middle process exits. */
    close(p[0]);
    setsid();
    pid_t k = fork();
    if (k == 0) keeper_main(state, p[1], uids, gids);
    _exit(k < 0);
  }
  close(p[1]);
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {}
  char c = 0;
  while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
  close(p[0]);
  return c == 'R';
}

bool keeper_join(unsigned long uids, unsigned long gids) {
  if (getenv("CROSSROOT_NO_KEEPER")) return false;
  cleanup_free char *dir = keeper_dir();
  if (!dir) return false;
  cleanup_free char *state = xasprintf("%s/userns.json", dir);
  if (try_join(state, uids, gids)) return true;
  cleanup_free char *lock_path = xasprintf("%s/userns.lock", dir);
  cleanup_fd int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock(lock, LOCK_EX) < 0) return false;
  return try_join(state, uids, gids) || (spawn_keeper(state, uids, gids) && try_join(state, uids, gids));
}
