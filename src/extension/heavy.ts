// The part of the extension loaded on first use, as a bundle of its own (dist/extension-heavy.cjs):
// the lifecycle glue and the language client. The core they drive is dist/core.cjs, required as a
// library (lazy.ts core()). Activation (main.ts, ctx.ts) only registers things and parses neither.
export { lifecycleBackend } from './lifecycle';
export { createLanguageClient } from './languageClient';
