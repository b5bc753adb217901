/* `crossroot-helper pack`: writes a tar of paths, for `COPY --from=stage` of a Dockerfile. It runs
 * inside the source stage's sandbox (bound in read-only, host arch, static), so it sees that
 * stage's merged tree with the owners ids have there, and needs nothing from the stage itself:
 * a `FROM scratch` stage or a distroless image has no tar. ustar headers with PAX records for
 * long names, link targets and big values; hardlinks as hardlink entries; devices, sockets and
 * other types are left out (no user namespace may make a device node). */
#include "commands.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define BLOCK 512

struct packer {
  int out;
  uint64_t entries;
  /* Files with more than one link seen so far: (dev, ino) -> first name. */
  struct seen {
    dev_t dev;
    ino_t ino;
    char *name;
  } *seen;
  size_t n_seen, cap_seen;
};

static void out_write(struct packer *p, const void *buf, size_t len) {
  if (write_all(p->out, buf, len) < 0) die_with_error("pack: writing the archive");
}

/* v in len-1 octal digits and a NUL (callers keep v within the field). */
static void octal(char *dst, size_t len, unsigned long long v) {
  dst[len - 1] = 0;
  for (size_t i = len - 1; i-- > 0; v >>= 3) dst[i] = (char)('0' + (v & 7));
}

static void pax_record(char **buf, size_t *len, const char *key, const char *value) {
  size_t body = strlen(key) + strlen(value) + 3; /* " key=value\n" */
  size_t n = body + 1;
  for (;;) {
    size_t digits = (size_t)snprintf(NULL, 0, "%zu", n);
    if (digits + body == n) break;
    n = digits + body;
  }
  *buf = xrealloc(*buf, *len + n + 1);
  snprintf(*buf + *len, n + 1, "%zu %s=%s\n", n, key, value);
  *len += n;
}

/* The ustar magic and checksum (over the block with its checksum field as spaces), then the block. */
static void write_header(struct packer *p, char *h) {
  memcpy(h + 257, "ustar\0" "00", 8);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < BLOCK; i++) sum += (unsigned char)h[i];
  snprintf(h + 148, 8, "%06o", sum);
  out_write(p, h, BLOCK);
}

static void header(struct packer *p, const char *name, char type, const struct stat *st, unsigned long long size, const char *link) {
  cleanup_free char *pax = NULL;
  size_t pax_len = 0;
  if (strlen(name) > 100) pax_record(&pax, &pax_len, "path", name);
  if (link && strlen(link) > 100) pax_record(&pax, &pax_len, "linkpath", link);
  if (size > 077777777777ULL) {
    char v[32];
    snprintf(v, sizeof v, "%llu", size);
    pax_record(&pax, &pax_len, "size", v);
  }
  if (pax_len) {
    char h[BLOCK] = {0};
    memcpy(h, "PaxHeader", 9);
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, pax_len);
    octal(h + 136, 12, (unsigned long long)(st->st_mtime > 0 ? st->st_mtime : 0));
    h[156] = 'x';
    write_header(p, h);
    out_write(p, pax, pax_len);
    static const char zeros[BLOCK];
    if (pax_len % BLOCK) out_write(p, zeros, BLOCK - pax_len % BLOCK);
  }
  char h[BLOCK] = {0};
  strncpy(h, name, 100);
  octal(h + 100, 8, st->st_mode & 07777);
  octal(h + 108, 8, st->st_uid <= 07777777 ? st->st_uid : 0);
  octal(h + 116, 8, st->st_gid <= 07777777 ? st->st_gid : 0);
  octal(h + 124, 12, size <= 077777777777ULL ? size : 0);
  octal(h + 136, 12, (unsigned long long)(st->st_mtime > 0 ? st->st_mtime : 0));
  h[156] = type;
  if (link) strncpy(h + 157, link, 100);
  write_header(p, h);
  p->entries++;
}

static void add(struct packer *p, int dirfd, const char *base, const char *name);

static void add_file(struct packer *p, int dirfd, const char *base, const char *name, const struct stat *st) {
  if (st->st_nlink > 1) {
    for (size_t i = 0; i < p->n_seen; i++) {
      if (p->seen[i].dev == st->st_dev && p->seen[i].ino == st->st_ino) {
        /* The same file named again (overlapping paths): it is in the archive already. */
        if (strcmp(p->seen[i].name, name)) header(p, name, '1', st, 0, p->seen[i].name);
        return;
      }
    }
    if (p->n_seen == p->cap_seen) p->seen = xrealloc(p->seen, (p->cap_seen = p->cap_seen ? p->cap_seen * 2 : 64) * sizeof *p->seen);
    p->seen[p->n_seen++] = (struct seen){st->st_dev, st->st_ino, xstrdup(name)};
  }
  cleanup_fd int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) die_with_error("pack: opening %s", name);
  header(p, name, '0', st, (unsigned long long)st->st_size, NULL);
  static char buf[1 << 16];
  unsigned long long left = (unsigned long long)st->st_size;
  while (left > 0) {
    ssize_t n = read(fd, buf, left < sizeof buf ? left : sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die_with_error("pack: reading %s", name);
    if (n == 0) die_code("ECHANGED", "nothing may change the stage while it is read; run the build again", "pack: %s got shorter while it was read", name);
    out_write(p, buf, (size_t)n);
    left -= (unsigned long long)n;
  }
  static const char zeros[BLOCK];
  if (st->st_size % BLOCK) out_write(p, zeros, BLOCK - (size_t)(st->st_size % BLOCK));
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static void add_dir(struct packer *p, int dirfd, const char *base, const char *name, const struct stat *st) {
  header(p, name, '5', st, 0, NULL);
  cleanup_fd int fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die_with_error("pack: opening the directory %s", name);
  /* scandir needs a path: the fd's own /proc entry names this very directory. */
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  struct dirent **list;
  int n = scandir(self, &list, NULL, by_name);
  if (n < 0) die_with_error("pack: listing %s", name);
  for (int i = 0; i < n; i++) {
    const char *c = list[i]->d_name;
    if (strcmp(c, ".") && strcmp(c, "..")) {
      cleanup_free char *child = xasprintf("%s/%s", name, c);
      add(p, fd, c, child);
    }
    free(list[i]);
  }
  free(list);
}

/* `name` is the entry's name in the archive; `base` the last component, opened under dirfd. */
static void add(struct packer *p, int dirfd, const char *base, const char *name) {
  struct stat st;
  if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) die_with_error("pack: %s", name);
  switch (st.st_mode & S_IFMT) {
  case S_IFREG: add_file(p, dirfd, base, name, &st); break;
  case S_IFDIR: add_dir(p, dirfd, base, name, &st); break;
  case S_IFLNK: {
    char target[4096];
    ssize_t n = readlinkat(dirfd, base, target, sizeof target - 1);
    if (n < 0) die_with_error("pack: reading the link %s", name);
    target[n] = 0;
    header(p, name, '2', &st, 0, target);
    break;
  }
  case S_IFIFO: header(p, name, '6', &st, 0, NULL); break;
  default: break; /* devices and sockets: nothing a copy can make */
  }
}

int cmd_pack(int argc, char **argv) {
  const char *output = NULL;
  int first = argc;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--")) { first = i + 1; break; }
    if (i + 1 >= argc) die_code("EUSAGE", "usage: crossroot-helper pack --output FILE [--status-fd N] -- PATH...", "%s needs a value", argv[i]);
    if (!strcmp(argv[i], "--output")) output = argv[++i];
    else if (!strcmp(argv[i], "--status-fd")) set_status_fd_arg(argv[i], argv[i + 1]), i++;
    else die_code("EUSAGE", "usage: crossroot-helper pack --output FILE [--status-fd N] -- PATH...", "unknown option '%s'", argv[i]);
  }
  if (!output || first >= argc) die_code("EUSAGE", "usage: crossroot-helper pack --output FILE [--status-fd N] -- PATH...", "--output and at least one PATH are required");
  struct packer p = {0};
  p.out = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (p.out < 0) die_with_error("creating %s", output);
  for (int i = first; i < argc; i++) {
    /* Names as GNU tar writes them for "a/b": relative, no "./", no trailing "/". */
    cleanup_free char *name = xstrdup(argv[i]);
    while (name[0] == '/' || (name[0] == '.' && name[1] == '/')) memmove(name, name + (name[0] == '/' ? 1 : 2), strlen(name));
    size_t len = strlen(name);
    while (len > 1 && name[len - 1] == '/') name[--len] = 0;
    if (!*name || !strcmp(name, ".")) {
      /* The root itself: its contents, each under its own name. */
      struct stat st;
      if (stat("/", &st) < 0) die_with_error("pack: /");
      cleanup_fd int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      char self[64];
      snprintf(self, sizeof self, "/proc/self/fd/%d", root);
      struct dirent **list;
      int n = scandir(self, &list, NULL, by_name);
      if (n < 0) die_with_error("pack: listing /");
      for (int k = 0; k < n; k++) {
        const char *c = list[k]->d_name;
        /* The sandbox's own mounts are not the stage's files. */
        bool skip = !strcmp(c, ".") || !strcmp(c, "..") || !strcmp(c, "proc") || !strcmp(c, "sys") || !strcmp(c, "dev") ||
                    !strncmp(c, ".crossroot-", 11);
        if (!skip) add(&p, root, c, c);
        free(list[k]);
      }
      free(list);
      continue;
    }
    /* A path given is followed to what it names, as Docker's COPY does for its sources; the
     * links below it are archived as links. Inside the sandbox, / is the stage's root. */
    cleanup_free char *real = realpath(argv[i], NULL);
    if (!real) die_code("ENOENT", "check the path exists in that stage", "pack: %s: %s", argv[i], strerror(errno));
    add(&p, AT_FDCWD, real, name);
  }
  static const char end[2 * BLOCK];
  out_write(&p, end, sizeof end);
  if (close(p.out) < 0) die_with_error("writing %s", output);
  status_event("{\"event\":\"done\",\"entries\":%llu}", (unsigned long long)p.entries);
  for (size_t i = 0; i < p.n_seen; i++) free(p.seen[i].name);
  free(p.seen);
  return 0;
}
