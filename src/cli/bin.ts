#!/usr/bin/env node
import { tuneHeapForStreaming } from './heap.js';

tuneHeapForStreaming();
// The SDK warns on Node 20 about its releases of 2027: noise for the command's user, who did not
// choose the SDK. Set by the command for its own process; the library leaves the environment alone.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('./main.js');
process.exitCode = await main();
