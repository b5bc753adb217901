/* Probe run inside the sandbox by tests (like crun's tests/init.c): prints exact facts, one
 * `key=value` per line, so tests compare values instead of parsing shell output.
 *   probe fds | caps | nnp | id | cwd | tty | sti | write FILE | chown HOW FILE UID GID | unlock DIR | exit N | signal N
 * and, run on the host by race tests: probe exchange DIR A B (swaps two names until killed). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static int fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) { perror("probe: /proc/self/fd"); return 1; }
  int self = dirfd(d);
  struct dirent *e;
  printf("fds=");
  const char *sep = "";
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) != self) { printf("%s%s", sep, e->d_name); sep = ","; }
  printf("\n");
  closedir(d);
  return 0;
}

static int status_lines(const char *prefixes[]) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) { perror("probe: /proc/self/status"); return 1; }
  char line[256];
  while (fgets(line, sizeof line, f))
    for (const char **p = prefixes; *p; p++)
      if (!strncmp(line, *p, strlen(*p))) {
        char *colon = strchr(line, ':');
        *colon = 0;
        char *v = colon + 1;
        while (*v == '\t' || *v == ' ') v++;
        printf("%s=%s", line, v);
      }
  fclose(f);
  return 0;
}

/* Whether an interactive shell could do job control: own process group in the foreground. */
static int tty(void) {
  printf("isatty=%d\n", isatty(0));
  if (!isatty(0)) return 0;
  int ctty = open("/dev/tty", O_RDWR | O_CLOEXEC);
  printf("ctty=%d\n", ctty >= 0);
  const char *name = ttyname(0);
  printf("ttyname=%s\n", name ? name : "");
  signal(SIGTTOU, SIG_IGN);
  int jc = setpgid(0, 0) == 0 && tcsetpgrp(0, getpgrp()) == 0 && tcgetpgrp(0) == getpgrp();
  printf("jobcontrol=%d\n", jc);
  return 0;
}

/* chown through one particular syscall: path (chown), lpath (lchown), fd (fchown on an O_RDONLY
 * fd), empty (fchownat(fd, "", AT_EMPTY_PATH) on an O_PATH fd), nocap (chown after dropping
 * CAP_CHOWN from the effective set). Prints chown=ok or the error. */
static int do_chown(const char *how, const char *path, unsigned uid, unsigned gid) {
  int r;
  if (!strcmp(how, "path")) r = chown(path, uid, gid);
  else if (!strcmp(how, "lpath")) r = lchown(path, uid, gid);
  else if (!strcmp(how, "fd") || !strcmp(how, "empty")) {
    int fd = open(path, (!strcmp(how, "fd") ? O_RDONLY : O_PATH) | O_CLOEXEC);
    if (fd < 0) { perror("probe: open"); return 1; }
    r = !strcmp(how, "fd") ? fchown(fd, uid, gid) : fchownat(fd, "", uid, gid, AT_EMPTY_PATH);
  } else if (!strcmp(how, "nocap")) {
    struct { unsigned version; int pid; } hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    struct { unsigned effective, permitted, inheritable; } data[2];
    if (syscall(SYS_capget, &hdr, data) < 0) { perror("probe: capget"); return 1; }
    data[0].effective &= ~1u; /* CAP_CHOWN */
    if (syscall(SYS_capset, &hdr, data) < 0) { perror("probe: capset"); return 1; }
    r = chown(path, uid, gid);
  } else {
    fprintf(stderr, "probe: chown path|lpath|fd|empty|nocap FILE UID GID\n");
    return 2;
  }
  printf("chown=%s\n", r == 0 ? "ok" : strerror(errno));
  return 0;
}

static const char *result(int r) { return r == 0 ? "ok" : strerror(errno); }

/* Every way root inside could try to make the read-only mount at dir writable, each reported
 * as ok or the errno: remount, mount_setattr, a writable clone moved over it, and unmounting
 * it (to write to what lies below). Stops at nothing: the test then writes and checks the host. */
static int unlock(const char *dir) {
  printf("remount=%s\n", result(mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND, NULL)));
  struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
  printf("setattr=%s\n", result(mount_setattr(AT_FDCWD, dir, AT_RECURSIVE, &rw, sizeof rw)));
  int tree = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  int r = tree < 0 ? -1 : mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &rw, sizeof rw);
  if (r == 0) r = move_mount(tree, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH);
  printf("clone=%s\n", result(r));
  printf("umount=%s\n", result(umount2(dir, MNT_DETACH)));
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!strcmp(cmd, "fds")) return fds();
  if (!strcmp(cmd, "caps")) return status_lines((const char *[]){"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", NULL});
  if (!strcmp(cmd, "nnp")) { printf("nnp=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)); return 0; }
  if (!strcmp(cmd, "id")) {
    printf("uid=%d\ngid=%d\n", getuid(), getgid());
    return status_lines((const char *[]){"Groups", NULL});
  }
  if (!strcmp(cmd, "cwd")) {
    char buf[4096];
    if (!getcwd(buf, sizeof buf)) { perror("probe: getcwd"); return 1; }
    printf("cwd=%s\n", buf);
    return 0;
  }
  if (!strcmp(cmd, "tty")) return tty();
  if (!strcmp(cmd, "exchange") && argc > 4) {
    int dir = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) { perror("probe: exchange"); return 1; }
    for (;;)
      if (renameat2(dir, argv[3], dir, argv[4], RENAME_EXCHANGE) < 0) { perror("probe: renameat2"); return 1; }
  }
  if (!strcmp(cmd, "sti")) { /* pushes a newline into the terminal's input, as an injection would */
    char c = '\n';
    printf("sti=%s\n", ioctl(0, TIOCSTI, &c) == 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (!strcmp(cmd, "write") && argc > 2) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    printf("write=%s\n", fd >= 0 ? "ok" : strerror(errno));
    return fd >= 0 ? 0 : 1;
  }
  if (!strcmp(cmd, "chown") && argc > 5) return do_chown(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10), (unsigned)strtoul(argv[5], NULL, 10));
  if (!strcmp(cmd, "unlock") && argc > 2) return unlock(argv[2]);
  if (!strcmp(cmd, "exit") && argc > 2) return atoi(argv[2]);
  if (!strcmp(cmd, "signal") && argc > 2) {
    int s = atoi(argv[2]);
    signal(s, SIG_DFL);
    raise(s);
    return 1;
  }
  fprintf(stderr, "usage: probe fds|caps|nnp|id|cwd|tty|write FILE|chown HOW FILE UID GID|unlock DIR|exit N|signal N\n");
  return 2;
}
