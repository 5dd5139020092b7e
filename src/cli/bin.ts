#!/usr/bin/env -S node --max-semi-space-size=1
// The flag above caps V8's young generation of the main thread at 3 MB (it must be given at start:
// V8 sizes the heap before any code runs). The main thread moves a lot of bytes and keeps few
// objects; with the default (up to 48 MB) prepare peaked 20-27 MiB higher at 1 and 3 GB at the same
// speed (`npm run bench` runs prepare with the same flag). `env -S` splits the line on Linux, macOS
// and BSD, and npm's Windows shims read it too.
import { tuneHeapForStreaming } from './heap.js';

tuneHeapForStreaming();
// The SDK warns on Node 20 about its releases of 2027: noise for the command's user, who did not
// choose the SDK. Set by the command for its own process; the library leaves the environment alone.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('./main.js');
process.exitCode = await main();
