// Native compilers in a foreign-arch env (issue 11): `make -j2` of the helper's own sources (its C
// files, -O2 -c) inside an arm64 Debian env with the env's own gcc under qemu (CC=/usr/bin/gcc)
// against `gcc`, which runs the host's cross compiler natively against the env's sysroot; and that
// against a plain cross build on the host (aarch64-linux-gnu-gcc-12 with Debian's arm64 cross
// libc). Interleaved rounds; the in-env times are taken inside the env, so the CLI's start is not in them.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, ROOT, cacheDir } from '../test/lib/harness';
import { median, runBench, type BenchResult, type Row } from './lib';

const RUNS = Number(process.env.CROSSROOT_BENCH_RUNS || 3);
const HOST_CC = 'aarch64-linux-gnu-gcc-12';
// The env of test/integration/native-cc.test.ts (same store, same steps: its layers are reused).
const TOML = `name = "native-cc"\narch = "arm64"\n[source]\nkind = "debian"\nsuite = "bookworm"\nvariant = "minbase"\n[setup]\npackages = ["gcc", "libc6-dev", "make"]\nrun = ["apt-get install -y -q --no-install-recommends g++ libc6-dev zlib1g-dev libzstd-dev liblzma-dev libbz2-dev >/dev/null"]\n[workspace]\npath = "/workspace"\n`;
const MAKEFILE = `CFLAGS = -O2 -Wall -std=gnu11 -D_GNU_SOURCE -DCROSSROOT_VERSION='"bench"'
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
objs: $(OBJS)
%.o: %.c $(wildcard src/*.h)
\t$(CC) $(CFLAGS) -c -o $@ $<
clean:
\trm -f src/*.o
`;

function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(1)).join(' / ');
}

async function bench(): Promise<BenchResult> {
  const env = { ...process.env, CROSSROOT_STORE: cacheDir('store') };
  const work = mkdtempSync(path.join(os.tmpdir(), 'crossroot-bench-cc-'));
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const loadBefore = loadavg();
  try {
    writeFileSync(path.join(work, 'crossroot.toml'), TOML);
    mkdirSync(path.join(work, 'project'));
    cpSync(path.join(ROOT, 'native', 'src'), path.join(work, 'project', 'src'), { recursive: true });
    writeFileSync(path.join(work, 'project', 'Makefile'), MAKEFILE);
    const status = cli(['exec', 'true']);
    if (status.status !== 0) throw new Error(`the arm64 env did not start: ${status.stderr}`);
    const inEnv = (cc: string): number => {
      const r = cli(['exec', '--cwd', '/workspace/project', 'bash', '-c',
        `make -s clean; s=$(date +%s%N); make -s -j2 objs CC=${cc} >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))`]);
      if (r.status !== 0) throw new Error(`make CC=${cc} in the env failed: ${r.stderr}`);
      return Number(r.stdout.trim());
    };
    const host = (): number => {
      spawnSync('make', ['-s', 'clean'], { cwd: path.join(work, 'project') });
      const t0 = process.hrtime.bigint();
      const r = spawnSync('make', ['-s', '-j2', 'objs', `CC=${HOST_CC}`], { cwd: path.join(work, 'project'), encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`make CC=${HOST_CC} on the host failed: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const times = { emulated: [] as number[], native: [] as number[], host: [] as number[] };
    inEnv('gcc'); // warm-up: the env's page cache, and the gcc search dirs asked once
    for (let i = 0; i < RUNS; i++) {
      times.emulated.push(inEnv('/usr/bin/gcc'));
      times.native.push(inEnv('gcc'));
      times.host.push(host());
    }
    const row = (name: string, xs: number[]): Row => ({ name, medianMs: median(xs), runs: RUNS });
    const native = row('`make -j2 CC=gcc` in the env (host cross compiler, native)', times.native);
    const rows: BenchResult['rows'] = [
      { label: `arm64 env: \`make -j2\` of the helper's ${readdirSync(path.join(ROOT, 'native/src')).filter((f) => f.endsWith('.c')).length} C files (-O2 -c)`, ours: native, peer: row('`make -j2 CC=/usr/bin/gcc` in the env (its own gcc, qemu)', times.emulated), target: { text: '≥ 10× faster (≤ 0.10×)', maxRatio: 0.1 } },
      { label: 'the same, against a plain host cross build', ours: native, peer: row(`\`make -j2 CC=${HOST_CC}\` on the host`, times.host), target: { text: '≤ 1.3×', maxRatio: 1.3 } },
    ];
    const st = cli(['status']).stdout.split('\n').find((l) => l.startsWith('compilers:')) ?? '';
    return {
      rows,
      notes: [
        'Env: Debian bookworm arm64 minbase with gcc, g++, make, zlib1g-dev, libzstd-dev, liblzma-dev and libbz2-dev ([setup]); `gcc` there is crossroot-cc running the host\'s gcc-12-aarch64-linux-gnu with `--sysroot=/` and the env gcc\'s own search dirs; make itself runs emulated in both in-env rows.',
        `\`crossroot status\` said: ${st.replace(/^compilers:\s*/, '')}`,
        'riscv64: Debian\'s riscv64 port starts with trixie (gcc 14) and this Debian 12 host has gcc-12-riscv64-linux-gnu, so riscv64 envs fall back to their own gcc (`crossroot status` names gcc-14-riscv64-linux-gnu); no riscv64 row until a host with a matching cross compiler (Debian 13) runs this.',
        `In-env times are measured inside the env (date before and after make), so the CLI's start is not in them; the host row is make's wall time. Medians of ${RUNS} interleaved rounds after one warm-up.`,
        `${os.cpus().length} CPUs, Linux ${os.release()}, uid ${process.getuid?.()}; load average (1/5/15 min) ${loadBefore} before, ${loadavg()} after.`,
      ],
    };
  } finally {
    cli(['stop']);
    rmSync(work, { recursive: true, force: true });
  }
}

if (!existsSync(`/usr/bin/${HOST_CC}`)) throw new Error(`no ${HOST_CC} on this host: apt-get install gcc-12-aarch64-linux-gnu`);
await runBench('compilers', 'Native compilers in an arm64 env (crossroot-cc vs the env\'s gcc under qemu, and vs a host cross build)', fileURLToPath(import.meta.url), bench);
