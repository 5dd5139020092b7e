#!/usr/bin/env node
import { tuneHeapForStreaming } from './heap.js';

tuneHeapForStreaming();
const { main } = await import('./main.js');
process.exitCode = await main();
