import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { INSTALL, NEVER, NOT_NOW, offerExtensions, wantedExtensions, type Memory } from '../../../src/extension/recommend';
import { fakeHost } from '../envfile/fake-host';
import { RecordingUi } from './fake-ui';

const spec = (extensions: string[]) => readDevcontainer(JSON.stringify({ name: 'web', image: 'alpine', customizations: { vscode: { extensions } } }), { file: '/p/.devcontainer/devcontainer.json', host: fakeHost() }).spec!;

class MapMemory implements Memory {
  readonly m = new Map<string, unknown>();
  get<T>(k: string): T | undefined { return this.m.get(k) as T | undefined; }
  async update(k: string, v: unknown): Promise<void> { this.m.set(k, v); }
}

test('the listed extensions VS Code lacks are offered once; Install installs exactly those', async () => {
  const s = spec(['ms-python.python', 'ESbenp.prettier-vscode@10.1.0', 'dbaeumer.vscode-eslint', '-dbaeumer.vscode-eslint']);
  assert.deepEqual(wantedExtensions(s), ['ms-python.python', 'esbenp.prettier-vscode']);
  const ui = new RecordingUi();
  ui.answer = INSTALL;
  const memory = new MapMemory();
  const installed = { has: (id: string) => id === 'ms-python.python' };
  assert.deepEqual(await offerExtensions(s, ui, installed, memory), ['esbenp.prettier-vscode']);
  assert.deepEqual(ui.shown.map((x) => [x.message, x.actions]), [['The env web recommends extension that VS Code does not have: esbenp.prettier-vscode.', [INSTALL, NOT_NOW, NEVER]]]);
  assert.deepEqual([ui.commands, ui.commandArgs], [['workbench.extensions.installExtension'], [['esbenp.prettier-vscode']]]);
  // Asked about these already: not again.
  ui.shown = [];
  assert.deepEqual(await offerExtensions(s, ui, installed, memory), []);
  assert.deepEqual(ui.shown, []);
});

test('"Not now" asks again only for a new extension; "Don\'t ask again" never asks for this env', async () => {
  const ui = new RecordingUi();
  const memory = new MapMemory();
  const none = { has: () => false };
  ui.answer = NOT_NOW;
  assert.deepEqual(await offerExtensions(spec(['a.b']), ui, none, memory), []);
  assert.deepEqual(await offerExtensions(spec(['a.b']), ui, none, memory), []);
  assert.equal(ui.shown.length, 1);
  ui.answer = NEVER;
  await offerExtensions(spec(['a.b', 'c.d']), ui, none, memory);
  assert.equal(ui.shown.length, 2, 'a new extension in the list is offered');
  await offerExtensions(spec(['a.b', 'c.d', 'e.f']), ui, none, memory);
  assert.equal(ui.shown.length, 2, 'never again');
  assert.deepEqual(ui.commands, []);
  assert.deepEqual(await offerExtensions(spec([]), new RecordingUi(), none, new MapMemory()), [], 'nothing listed, nothing asked');
});
