// What the host's cgroups allow, read independently of the helper, so limit tests can say
// which behaviour this machine must show: applied limits or the helper's warning.
import { accessSync, constants, readFileSync, statfsSync } from 'node:fs';
import path from 'node:path';

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** /sys/fs/cgroup is a cgroup v2 mount (not v1, not a hybrid's tmpfs of v1 mounts). */
export function hostIsCgroup2(): boolean {
  try {
    return statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** The helper can make a sibling of our cgroup with memory and pids (see native/README.md). */
export function cgroupDelegated(): boolean {
  if (!hostIsCgroup2()) return false;
  const own = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  if (!own || own === '/') return false;
  try {
    const controllers = readFileSync(`/sys/fs/cgroup${own}/cgroup.controllers`, 'utf8').split(/\s+/);
    accessSync(path.dirname(`/sys/fs/cgroup${own}`), constants.W_OK);
    return controllers.includes('memory') && controllers.includes('pids');
  } catch {
    return false;
  }
}
