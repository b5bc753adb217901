// Driving code-server's workbench like a user: Debian's Chromium through playwright-core, a
// fresh profile per test, commands through the palette, a screenshot per step kept as an
// artifact. Every wait is on something the page shows, never on time.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from '../../lib/harness';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Where screenshots go: CROSSROOT_ARTIFACTS (npm test sets it to .artifacts/ in the checkout). */
export function artifactsDir(name: string): string {
  const dir = path.join(process.env.CROSSROOT_ARTIFACTS ?? path.join(ROOT, '.artifacts'), 'e2e', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Generous bound for one step on a loaded 2-core machine; steps end when the page shows the fact. */
export const STEP = 120_000;

export class Workbench {
  private step = 0;
  constructor(readonly page: Page, readonly context: BrowserContext, readonly artifacts: string) {}

  /** Saves a screenshot named after the step, in order. */
  async shot(name: string): Promise<string> {
    const file = path.join(this.artifacts, `${String(++this.step).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Runs a command by its palette title (e.g. "Crossroot: Build Env"). */
  async command(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: STEP });
    await input.fill(`>${title}`);
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    await row.waitFor({ state: 'visible', timeout: STEP });
    await input.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: STEP });
  }

  /** Opens a workspace file through Quick Open and waits for its editor tab. */
  async open(relative: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: STEP });
    await input.fill(relative);
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(relative) }).first().waitFor({ timeout: STEP });
    await input.press('Enter');
    await this.page.locator(`.tabs-container .tab[aria-label^="${path.basename(relative)}"]`).first().waitFor({ timeout: STEP });
    await this.page.locator('.monaco-editor .view-lines').first().waitFor({ timeout: STEP });
  }

  /** A notification toast with this text. */
  notification(text: string | RegExp) {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
  }

  /** Waits until `locator`'s text matches, returning it (at most `timeout` ms, default STEP). */
  async waitForText(selector: string, pattern: RegExp, timeout = STEP): Promise<string> {
    const handle = await this.page.waitForFunction(({ selector, source, flags }) => {
      const re = new RegExp(source, flags);
      // Runs in the page (no DOM types in this project's lib).
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ innerText: string }> } }).document;
      for (const el of Array.from(doc.querySelectorAll(selector))) {
        const text = el.innerText;
        if (re.test(text)) return text;
      }
      return false;
    }, { selector, source: pattern.source, flags: pattern.flags }, { timeout, polling: 200 });
    return (await handle.jsonValue()) as string;
  }
}

/**
 * Ends the browser of a test: its processes (every one names the test's own profile dir) are
 * killed first, since a close that waits on a busy page can hang a test run forever.
 */
export async function closeBrowser(context: BrowserContext, profile: string): Promise<void> {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(profile)) process.kill(Number(pid), 'SIGKILL');
    } catch { /* exited */ }
  }
  await context.close().catch(() => {});
}

/**
 * Debian's Chromium with a fresh profile. When the test ends the browser is ended first and its
 * profile removed after (a profile removed under a running browser fails with ENOTEMPTY).
 */
export async function launchBrowser(t: TestContext): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'crossroot-chromium-'));
  let context: BrowserContext | undefined;
  t.after(async () => {
    if (context) await closeBrowser(context, profile);
    rmSync(profile, { recursive: true, force: true });
  });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
  });
  return context;
}

/** Opens `folder` in code-server at `url` in a fresh Chromium profile; closed when the test ends. */
export async function openWorkbench(t: TestContext, url: string, folder: string, name: string, query = ''): Promise<Workbench> {
  const context = await launchBrowser(t);
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(`${url}/?folder=${encodeURIComponent(folder)}${query}`, { timeout: STEP, waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').waitFor({ timeout: STEP });
  return new Workbench(page, context, artifactsDir(name));
}
