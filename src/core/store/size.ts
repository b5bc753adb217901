// How much disk a tree takes, for `crossroot gc` and `crossroot status`. Iterative (a tree made
// inside an env can be thousands of levels deep) and tolerant of unreadable dirs (owned by a
// subordinate uid), which count as what could be read.
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** lstat sizes of a file or every entry of a tree; 0 when missing. */
export function treeBytes(root: string): number {
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    total += st.size;
    if (!st.isDirectory()) continue;
    try {
      for (const n of readdirSync(p)) stack.push(path.join(p, n));
    } catch { /* unreadable: counted as its own size */ }
  }
  return total;
}
