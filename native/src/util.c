/* Error reporting, allocation and small file helpers shared by every subcommand. */
#include "util.h"
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int status_fd = -1;
const char *prog_name = "crossroot-helper";

const char *shorten_middle(const char *s, size_t max) {
  static char bufs[4][2048];
  static unsigned which;
  size_t n = strlen(s);
  if (n <= max) return s;
  if (max > sizeof bufs[0] - 64) max = sizeof bufs[0] - 64;
  char *b = bufs[which++ % N_ELEMENTS(bufs)];
  size_t head = max / 2, tail = max - head;
  snprintf(b, sizeof bufs[0], "%.*s...(%zu bytes)...%s", (int)head, s, n - head - tail, s + n - tail);
  return b;
}

__attribute__((noreturn)) static void vdie(int exit_status, const char *code, const char *fix, int err, const char *fmt, va_list ap) {
  /* Formatted whole, then shortened in the middle: the end (the errno, the last path
   * component) is what says what went wrong, so a long path must never push it out. */
  char *full = NULL;
  if (vasprintf(&full, fmt, ap) < 0) full = NULL;
  char msg[2048];
  snprintf(msg, sizeof msg, "%s", full ? shorten_middle(full, 1800) : fmt);
  free(full);
  if (err) {
    size_t n = strlen(msg);
    snprintf(msg + n, sizeof msg - n, ": %s", strerror(err));
  }
  fprintf(stderr, "%s: %s\n", prog_name, msg);
  if (fix) fprintf(stderr, "%s: fix: %s\n", prog_name, fix);
  if (status_fd >= 0) {
    char m[4096], f[2048];
    json_escape(m, sizeof m, msg);
    json_escape(f, sizeof f, fix ? fix : "");
    status_event("{\"event\":\"error\",\"code\":\"%s\",\"message\":\"%s\",\"fix\":\"%s\"}", code, m, f);
  }
  _exit(exit_status);
}

void die_code(const char *code, const char *fix, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(125, code, fix, 0, fmt, ap);
}

void die_code_status(int exit_status, const char *code, const char *fix, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(exit_status, code, fix, 0, fmt, ap);
}

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(125, "EFAIL", NULL, 0, fmt, ap);
}

void die_with_error(const char *fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  vdie(125, "EFAIL", NULL, err, fmt, ap);
}

void die_oom(void) {
  fputs("crossroot-helper: out of memory\n", stderr);
  _exit(125);
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die_oom();
  return p;
}

void *xcalloc(size_t n, size_t m) {
  void *p = calloc(n ? n : 1, m ? m : 1);
  if (!p) die_oom();
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die_oom();
  return p;
}

char *xstrdup(const char *s) {
  char *p = strdup(s);
  if (!p) die_oom();
  return p;
}

char *xasprintf(const char *fmt, ...) {
  char *p;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&p, fmt, ap);
  va_end(ap);
  if (r < 0) die_oom();
  return p;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int write_file_at(int dirfd, const char *path, const char *content) {
  int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  int r = write_all(fd, content, strlen(content)) < 0 ? -errno : 0;
  close(fd);
  return r;
}

char *read_file_at(int dirfd, const char *path, size_t *len_out) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (len + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      close(fd);
      errno = e;
      return NULL;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = 0;
  if (len_out) *len_out = len;
  return buf;
}

int parse_fd_arg(const char *opt, const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > 1 << 20) die_code("EUSAGE", NULL, "%s needs a file descriptor number, not '%s'", opt, s);
  if (fcntl((int)v, F_GETFD) < 0) die_code("EUSAGE", "open the fd before starting the helper", "%s %ld: fd is not open", opt, v);
  return (int)v;
}

void set_status_fd_arg(const char *opt, const char *s) {
  status_fd = parse_fd_arg(opt, s);
  (void)fcntl(status_fd, F_SETFD, FD_CLOEXEC);
}

void json_escape(char *dst, size_t dstlen, const char *s) {
  size_t o = 0;
  for (; *s && o + 7 < dstlen; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { dst[o++] = '\\'; dst[o++] = (char)c; }
    else if (c == '\n') { dst[o++] = '\\'; dst[o++] = 'n'; }
    else if (c < 0x20) o += (size_t)snprintf(dst + o, dstlen - o, "\\u%04x", c);
    else dst[o++] = (char)c;
  }
  dst[o] = 0;
}

void status_event(const char *fmt, ...) {
  if (status_fd < 0) return;
  char line[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  (void)write_all(status_fd, line, (size_t)n);
}

/* After the parenthesised command name, which may hold anything. A zombie counts as gone: an
 * exited instance's PID 1 may wait a while for the host's init to reap it. */
unsigned long long proc_starttime(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  cleanup_free char *stat = read_file_at(AT_FDCWD, path, NULL);
  char *p = stat ? strrchr(stat, ')') : NULL;
  if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X') return 0;
  unsigned long long v = 0;
  /* After ")": field 3 (state) is the first; starttime is field 22. */
  for (int field = 3; field <= 22 && p; field++) {
    p = strchr(p + 1, ' ');
    if (p && field == 22) v = strtoull(p + 1, NULL, 10);
  }
  return v;
}
