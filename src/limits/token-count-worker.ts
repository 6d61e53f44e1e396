import { parentPort } from 'node:worker_threads';
import { runCountJob, type CountJob } from './token-count.ts';

// Measures inputs too long to tokenize on the event loop (driven by token-count-threads.ts).

const port = parentPort!;
port.on('message', (job: CountJob) => {
  try {
    port.postMessage({ result: runCountJob(job) });
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
