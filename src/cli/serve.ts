import { loadConfig } from '../config/load.ts';
import { startGateway } from '../gateway/start.ts';

export async function serve(configFile: string | undefined): Promise<void> {
  // Whatever reads the gateway's output (a pipe to a log shipper, `| tee`) may go away;
  // the gateway goes on serving rather than dying of EPIPE with requests in flight.
  process.stdout.on('error', ignoreClosedPipe);
  process.stderr.on('error', ignoreClosedPipe);
  const config = loadConfig(configFile);
  const gw = await startGateway(config).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host; // IPv6
    throw new Error(`${host}:${config.listen.port} is in use (another Tollgate?); set listen.port in the config or TOLLGATE_PORT`);
  });
  const models = gw.rt.catalog.models.size;
  process.stdout.write(`Tollgate listening on ${gw.url} (storage ${config.storage}, ${gw.rt.catalog.upstreams.size} providers, ${models} models)\n`);
  if (models === 0) {
    process.stdout.write('No models configured: set OPENAI_API_KEY, DEEPSEEK_API_KEY, MOONSHOT_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, or pass --config (see tollgate.example.yaml). Try `npm run demo` to see it work without a provider key.\n');
  }
  if (gw.newAdminToken) {
    process.stdout.write(`\nAdmin token (shown once; only its hash is kept):\n  ${gw.newAdminToken}\n\n`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal (Ctrl-C again): the operator will not wait for the drain. What
      // is settled is still written; a request cut here is what a crash leaves, its
      // reservation released on the next start. (It used to be ignored: only SIGKILL
      // ended a long drain, and lost the unwritten records.)
      process.stdout.write(`${signal} again: stopping now; ${gw.rt.inFlight} in-flight requests are cut\n`);
      // 2 s: if the journal cannot be written. What it could not write is said, as a
      // failed drain says it: the operator is owed a count of what is lost.
      const exit = (written: boolean) => {
        const lost = gw.rt.journal.waiting;
        if (!written && lost > 0) process.stderr.write(`shutdown failed: ${lost} request records and billing writes could not be written to the store and are lost (see the log)\n`);
        process.exit(1);
      };
      setTimeout(() => exit(false), 2_000);
      gw.rt.journal.flush().then(exit, () => exit(false));
      return;
    }
    stopping = true;
    process.stdout.write(`${signal}: draining ${gw.rt.inFlight} in-flight requests and flushing logs (${signal} again to stop now)\n`);
    gw.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A terminal that goes away (the operator's SSH session dropped) sends SIGHUP, whose
  // default is to die at once: streams in flight went uncharged and unwritten records
  // were lost. It drains as SIGTERM does; the gateway reloads nothing on it.
  process.on('SIGHUP', () => stop('SIGHUP'));
}

function ignoreClosedPipe(err: NodeJS.ErrnoException): void {
  // EIO: the terminal the output went to has hung up (see SIGHUP above).
  if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err;
}
