// The warm path of `crossroot exec`, `shell` and `build`, run by dist/cli.cjs before anything else:
// when the env's join plan (core/env/plan.ts) still holds, it joins the running instance (or says
// the build is current) without loading the core bundle, whose loading was most of a cached
// `exec`'s time. Anything it cannot answer exactly as the full path would (an option it does not
// handle, a changed input, no running instance, a store that is not private, a devcontainer hook
// that runs on each attach) returns undefined, having printed nothing, and the full CLI runs.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { statSync } from 'node:fs';
import { hostArch } from '../core/arch';
import { isCrossrootError } from '../core/errors';
import { findEnvFileUpward } from '../core/envfile/names';
import { parseDuration } from '../core/envfile/spec';
import { joinEnv, mapCwd, planHolds, readInstanceKey, readPlan, type JoinPlan } from '../core/env/plan';
import { findHelper } from '../core/sandbox/helper';
import { execInInstance, readInstance } from '../core/sandbox/instance';
import { checkPrivate, defaultStoreRoot, sharedStoreFromEnv } from '../core/store/root';
import { BUILD_OPTIONS, ENV_OPTIONS, EXEC_OPTIONS, commandStart, type EnvFlags } from './env/flags';

/** build's last line on stderr, on either path (build.ts prints it after a full build). */
export function readyLine(name: string, arch: string, steps: number, ran: number): string {
  return `crossroot: env ${name} (${arch}) is ready: ${steps} step${steps === 1 ? '' : 's'}, ${ran} run, ${steps - ran} cached`;
}

/** The plan for the flags' env file and store when it still holds; undefined otherwise. */
function holdingPlan(flags: EnvFlags): JoinPlan | undefined {
  // --json and --verbose print what only the full path knows (events, cached steps); a shared
  // store prints its warning there; a value the full path refuses is refused there, with its fix.
  if (flags.json || flags.verbose || flags['shared-store'] || sharedStoreFromEnv()) return undefined;
  if (flags['idle-timeout'] !== undefined && parseDuration(flags['idle-timeout']) === undefined) return undefined;
  if (!['', 'auto', 'single', 'full', undefined].includes(process.env.CROSSROOT_IDMAP)) return undefined;
  const file = flags.file ? path.resolve(flags.file) : findEnvFileUpward(process.cwd());
  if (!file) return undefined;
  const root = path.resolve(flags.store ?? defaultStoreRoot());
  // The same refusal as Store.open: nothing in a store others can write is trusted.
  checkPrivate(root, statSync(root), false);
  const plan = readPlan(root, file);
  return plan && planHolds(plan, file, findHelper(), () => hostArch().name) ? plan : undefined;
}

/** The plan's join, when its instance is the one running now. */
function runningJoin(plan: JoinPlan): NonNullable<JoinPlan['join']> | undefined {
  const join = plan.join;
  if (!join) return undefined;
  const now = readInstance(plan.stateDir);
  if (!now || now.pid !== join.instance.pid || now.starttime !== join.instance.starttime) return undefined;
  return readInstanceKey(path.dirname(plan.stateDir)) === join.instanceKey ? join : undefined;
}

type Decision =
  | { kind: 'join'; plan: JoinPlan; join: NonNullable<JoinPlan['join']>; command: string[]; cwd?: string | undefined; env?: Record<string, string> }
  | { kind: 'ready'; plan: JoinPlan };

/** What the warm path would do; undefined when the full path must decide (any error included: it reports them). */
function decide(argv: string[]): Decision | undefined {
  const [name, ...rest] = argv;
  try {
    switch (name) {
      case 'exec': {
        const end = commandStart(rest, EXEC_OPTIONS);
        const { values } = parseArgs({ args: rest.slice(0, end), strict: true, options: EXEC_OPTIONS });
        const command = rest[end] === '--' ? rest.slice(end + 1) : rest.slice(end);
        const env: Record<string, string> = {};
        for (const kv of values.env) {
          const eq = kv.indexOf('=');
          if (eq <= 0) return undefined;
          env[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        const plan = command.length ? holdingPlan(values) : undefined;
        const join = plan && runningJoin(plan);
        // An empty --cwd is no --cwd, as for the full path.
        return join ? { kind: 'join', plan: plan!, join, command, cwd: values.cwd || undefined, env } : undefined;
      }
      case 'shell': {
        const { values } = parseArgs({ args: rest, strict: true, options: ENV_OPTIONS });
        const plan = holdingPlan(values);
        const join = plan && !plan.build.initialize ? runningJoin(plan) : undefined;
        return join && !join.postAttach ? { kind: 'join', plan: plan!, join, command: [join.shell, '-l'] } : undefined;
      }
      case 'build': {
        const { values } = parseArgs({ args: rest, strict: true, options: BUILD_OPTIONS });
        if (values.rebuild || values.pull) return undefined;
        const plan = holdingPlan(values);
        return plan && plan.build.answers && !plan.build.initialize ? { kind: 'ready', plan } : undefined;
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** Runs the command on the warm path; undefined when the full CLI must (nothing printed or run then). */
export async function quick(argv: string[]): Promise<number | undefined> {
  const d = decide(argv);
  if (!d) return undefined;
  if (d.kind === 'ready') {
    process.stderr.write(readyLine(d.plan.build.name, d.plan.build.arch, d.plan.build.steps, 0) + '\n');
    return 0;
  }
  const j = d.join;
  try {
    const r = await execInInstance(d.plan.helper, d.plan.stateDir, d.command, {
      cwd: d.cwd ?? mapCwd(j, process.cwd()), env: { ...joinEnv(j, process.env.TERM), ...d.env }, stdio: 'inherit', ...(j.user ? { user: j.user } : {}),
    });
    return r.code;
  } catch (e) {
    // The instance ended between the check and the join: nothing ran; the full path starts it again.
    if (isCrossrootError(e) && e.code === 'ENOINSTANCE') return undefined;
    if (isCrossrootError(e)) {
      if (!e.shown) process.stderr.write(`crossroot ${argv[0]}: ${e.describe()}\n`);
      if (process.env.CROSSROOT_DEBUG && e.cause) console.error(e.cause);
      return 125;
    }
    throw e;
  }
}
