// A contender for the state lock, in its own process (test/local/lock.test.ts): it loads the built
// lock code, and on each {type: 'go'} message spins until the given instant (so that all contenders
// start together) and tries to take the lock, reporting whether it got it. A lock it wins stays held
// until the process ends.
import { acquireLock } from '../../dist/src/local/state.js';

const held = [];
process.on('message', async (m) => {
  if (m.type === 'go') {
    while (Date.now() < m.at) {
      // spin: a timer would spread the start over milliseconds
    }
    try {
      held.push(await acquireLock(m.stateFile, m.options));
      process.send({ round: m.round, won: true, pid: process.pid });
    } catch (err) {
      process.send({ round: m.round, won: false, pid: process.pid, code: err.code, message: err.message });
    }
  } else if (m.type === 'hold') {
    // take the lock once and keep it (its heartbeat runs)
    try {
      held.push(await acquireLock(m.stateFile, m.options));
      process.send({ type: 'held', pid: process.pid });
    } catch (err) {
      process.send({ type: 'failed', code: err.code, message: err.message });
    }
  } else if (m.type === 'churn') {
    // take and release the lock as fast as possible, m.times times
    for (let i = 0; i < m.times; i++) {
      try {
        const lock = await acquireLock(m.stateFile, m.options);
        lock.setEndpoint(`http://127.0.0.1:${1000 + i}`);
        lock.release();
      } catch {
        // another one holds it: try again
      }
    }
    process.send({ type: 'churned' });
  }
});
process.send({ type: 'ready', pid: process.pid });
