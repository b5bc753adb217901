/* --user: which uid, gid and supplementary groups the command runs with inside the env. Names
 * and groups come from the env's own /etc/passwd and /etc/group (read after pivot_root, so they
 * are the env's files), resolved the way runc and Docker resolve them: a number not in passwd is
 * still a valid uid (primary group 0, no supplementary groups, HOME /), a name must exist. */
#include "sandbox.h"
#include "util.h"
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DB_SIZE (8 << 20) /* /etc/passwd or /etc/group larger than this is not one */

/* A whole /etc/passwd or /etc/group of the env, or NULL. Its content is the env's (untrusted):
 * only a regular file is read (a fifo or /dev/zero there must not hang or exhaust us). */
static char *read_db(const char *path) {
  cleanup_fd int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_DB_SIZE) return NULL;
  size_t len = 0, cap = (size_t)st.st_size + 1;
  char *buf = xmalloc(cap);
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    if (len + 1 >= cap) break; /* grew while we read: what fits is enough */
  }
  buf[len] = 0;
  return buf;
}

/* Splits one `a:b:c:...` line in place into at most n fields; returns how many it found. */
static size_t split_fields(char *line, char **f, size_t n) {
  size_t i = 0;
  f[i++] = line;
  for (char *p = line; *p && i < n; p++)
    if (*p == ':') {
      *p = 0;
      f[i++] = p + 1;
    }
  return i;
}

/* A decimal id (no sign, no spaces, below 2^32-1, which means "unchanged" to the kernel). */
static bool parse_id(const char *s, unsigned *out) {
  if (!*s || strlen(s) > 10) return false;
  unsigned long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (v >= 0xffffffffULL) return false;
  *out = (unsigned)v;
  return true;
}

/* Whether id is covered by one of the extents in /proc/self/{uid,gid}_map; *total gets the
 * number of ids the map has (1 = a single-id map). */
static bool id_mapped(const char *map_file, unsigned id, unsigned long long *total) {
  cleanup_free char *map = read_file_at(AT_FDCWD, map_file, NULL);
  *total = 0;
  if (!map) return false;
  bool found = false;
  char *save = NULL;
  for (char *line = strtok_r(map, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    unsigned long long inside, outside, count;
    if (sscanf(line, "%llu %llu %llu", &inside, &outside, &count) != 3) continue;
    *total += count;
    if (id >= inside && id - inside < count) found = true;
  }
  return found;
}

static void require_mapped(const char *what, const char *map_file, unsigned id, const char *spec) {
  unsigned long long total;
  if (id_mapped(map_file, id, &total)) return;
  if (total <= 1)
    die_code("EUSERMAP",
             "give your user a subordinate id range (sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER) "
             "so the env gets a full id map, or run as root inside (--user 0)",
             "--user %s: %s %u does not exist in this env: it has a single-id map, where only root (0) exists", spec, what, id);
  die_code("EUSERMAP", "pick an id inside the env's range, or widen the subordinate range in /etc/subuid and /etc/subgid",
           "--user %s: %s %u is outside the env's id map (ids 0..%llu)", spec, what, id, total - 1);
}

void user_switch(const char *spec, const char **home) {
  cleanup_free char *s = xstrdup(spec);
  char *group = strchr(s, ':');
  if (group) *group++ = 0;
  if (!*s || (group && !*group)) die_code("EUSAGE", "write --user UID[:GID] or --user NAME[:GROUP]", "bad --user '%s'", spec);

  /* The user: a number, or a name in the env's /etc/passwd. */
  unsigned uid = 0, gid = 0;
  bool by_number = parse_id(s, &uid), in_passwd = false;
  cleanup_free char *name = NULL;
  *home = "/";
  cleanup_free char *passwd = read_db("/etc/passwd");
  char *save = NULL;
  for (char *line = passwd ? strtok_r(passwd, "\n", &save) : NULL; line && !in_passwd; line = strtok_r(NULL, "\n", &save)) {
    char *f[7];
    unsigned pu, pg;
    if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &pu) || !parse_id(f[3], &pg)) continue;
    if (by_number ? pu != uid : strcmp(f[0], s)) continue;
    in_passwd = true;
    uid = pu;
    gid = pg;
    name = xstrdup(f[0]);
    *home = xstrdup(*f[5] ? f[5] : "/");
  }
  if (!by_number && !in_passwd)
    die_code("EUSER", "use a numeric uid, or a user that exists in the env (useradd in a [setup] step)",
             "--user %s: no user '%s' in the env's /etc/passwd", spec, s);

  /* The group (explicit, else passwd's, else 0) and every group listing the user as a member. */
  cleanup_free char *groupdb = read_db("/etc/group");
  bool group_by_number = group && parse_id(group, &gid), group_found = !group || group_by_number;
  gid_t groups[1024]; /* more memberships than this are not kept */
  size_t n_groups = 0;
  save = NULL;
  for (char *line = groupdb ? strtok_r(groupdb, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
    char *f[4];
    unsigned g;
    if (split_fields(line, f, 4) < 4 || !parse_id(f[2], &g)) continue;
    if (group && !group_by_number && !group_found && !strcmp(f[0], group)) {
      gid = g;
      group_found = true;
    }
    if (!name || n_groups >= N_ELEMENTS(groups) - 1) continue;
    char *msave = NULL;
    bool dup = false;
    for (size_t i = 0; i < n_groups; i++) dup |= groups[i] == g;
    for (char *m = strtok_r(f[3], ",", &msave); m && !dup; m = strtok_r(NULL, ",", &msave))
      if (!strcmp(m, name)) {
        groups[n_groups++] = g;
        break;
      }
  }
  if (!group_found)
    die_code("EUSER", "use a numeric gid, or a group that exists in the env's /etc/group", "--user %s: no group '%s' in the env's /etc/group",
             spec, group);
  /* As initgroups() does, the primary group is in the list too (once). */
  bool listed = false;
  for (size_t i = 0; i < n_groups; i++) listed |= groups[i] == gid;
  if (!listed) groups[n_groups++] = gid;

  require_mapped("uid", "/proc/self/uid_map", uid, spec);
  require_mapped("gid", "/proc/self/gid_map", gid, spec);
  /* Supplementary groups: only those the map has (a group beyond the range would make
   * setgroups fail), and none at all where setgroups is denied (single-id map). */
  size_t kept = 0;
  for (size_t i = 0; i < n_groups; i++) {
    unsigned long long total;
    if (id_mapped("/proc/self/gid_map", groups[i], &total)) groups[kept++] = groups[i];
  }
  cleanup_free char *setgroups_policy = read_file_at(AT_FDCWD, "/proc/self/setgroups", NULL);
  bool may_setgroups = !setgroups_policy || strncmp(setgroups_policy, "deny", 4);
  if (may_setgroups && setgroups(kept, groups) < 0) die_with_error("setgroups for --user %s", spec);
  if (setresgid(gid, gid, gid) < 0) die_with_error("setresgid(%u) for --user %s", gid, spec);
  if (setresuid(uid, uid, uid) < 0) die_with_error("setresuid(%u) for --user %s", uid, spec);
}
