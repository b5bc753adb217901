/* Probe run inside the sandbox by tests (like crun's tests/init.c): prints exact facts, one
 * `key=value` per line, so tests compare values instead of parsing shell output.
 *   probe fds | caps | nnp | id | cwd | tty | sti | write FILE | chown HOW FILE UID GID | unlock DIR | exit N | signal N
 *   probe connect abstract:NAME | tcp:IPV4:PORT (a tcp peer gets an HTTP GET; its status line is printed)
 * and, run on the host by network tests: probe serve-abstract NAME (prints listening=NAME, then
 * accepts and closes connections until killed).
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
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
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

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
  size_t n = strlen(name);
  if (n + 1 > sizeof a->sun_path) return 0;
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  memcpy(a->sun_path + 1, name, n); /* a leading NUL: the abstract namespace, as X11 and D-Bus use it */
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int serve_abstract(const char *name) {
  struct sockaddr_un a;
  socklen_t len = abstract_addr(&a, name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!len || fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0 || listen(fd, 16) < 0) { perror("probe: serve-abstract"); return 1; }
  printf("listening=%s\n", name);
  fflush(stdout);
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0) close(c);
  }
}

/* Whether the address answers from here: connect=ok (abstract), the HTTP status line (tcp), or the errno. */
static int connect_to(const char *spec) {
  int fd = -1, r = -1;
  if (!strncmp(spec, "abstract:", 9)) {
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, spec + 9);
    if (!len) return 2;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, len);
    printf("connect=%s\n", result(r));
    return 0;
  }
  char host[64];
  int port;
  if (sscanf(spec, "tcp:%63[^:]:%d", host, &port) != 2) return 2;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return 2;
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
  if (r < 0) {
    printf("connect=%s\n", strerror(errno));
    return 0;
  }
  static const char get[] = "GET / HTTP/1.0\r\n\r\n";
  char buf[256];
  ssize_t n = write(fd, get, sizeof get - 1) == (ssize_t)(sizeof get - 1) ? read(fd, buf, sizeof buf - 1) : -1;
  buf[n > 0 ? n : 0] = 0;
  buf[strcspn(buf, "\r\n")] = 0;
  printf("connect=%s\n", n > 0 ? buf : n == 0 ? "closed" : strerror(errno));
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
  if (!strcmp(cmd, "connect") && argc > 2) return connect_to(argv[2]);
  if (!strcmp(cmd, "serve-abstract") && argc > 2) return serve_abstract(argv[2]);
  if (!strcmp(cmd, "exit") && argc > 2) return atoi(argv[2]);
  if (!strcmp(cmd, "signal") && argc > 2) {
    int s = atoi(argv[2]);
    signal(s, SIG_DFL);
    raise(s);
    return 1;
  }
  fprintf(stderr, "usage: probe fds|caps|nnp|id|cwd|tty|write FILE|chown HOW FILE UID GID|unlock DIR|connect ADDR|exit N|signal N\n");
  return 2;
}
