#!/usr/bin/env node
// The CLI lives in the esbuild bundles; this shim only finds them so `npm link` and the VSIX share
// one build. A .cjs file, required: in this "type": "module" package an extensionless bin would
// load as ES module, and Node's ESM loader costs a warm `crossroot exec` about a fifth of its time.
'use strict';
require('../dist/cli.cjs');
