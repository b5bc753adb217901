// The part of the extension loaded on first use, as a bundle of its own (dist/extension-heavy.cjs):
// the env lifecycle on src/core, the language client, host checks, reading env files. Activation
// (main.ts, ctx.ts) only registers things and never parses this (activation budget: 50 ms).
export { lifecycleBackend } from './lifecycle';
export { createLanguageClient } from './languageClient';
export { checkHost, formatReport } from '../core/sandbox/check';
export { loadEnvSpec } from '../core/envfile/load';
