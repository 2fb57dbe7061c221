/**
 * The bridge process from command line to exit code: the one place that wires the parts.
 *
 * `runBridge(argv, { openSession })` checks everything before it starts anything (Node >= 20,
 * the arguments, the secret file, the workspace, the TLS files, the private auth and state
 * directories), then opens the pending store and the outcome log, the session (`openSession(options)`: Baileys
 * in production, a stub in tests), the service and the server, and waits. It returns the
 * exit code: 0 after SIGTERM or SIGINT (a second signal kills at once: the handlers are
 * installed once), 3 when WhatsApp logged the bridge out (the operator must link again:
 * delete the auth directory), 2 for a refused configuration (nothing started), 1 for
 * anything else. The process umask is set to 077: whatever the bridge or Baileys creates is
 * private to this account.
 */
import { readFile, stat } from 'node:fs/promises';

import { parseBridgeArgs } from './args.mjs';
import { ensurePrivateDir } from './dirs.mjs';
import { ConfigError } from './errors.mjs';
import { OutcomeLog } from './outcomes.mjs';
import { PendingStore } from './pending.mjs';
import { FailedHandshakeLimiter } from './ratelimit.mjs';
import { readSecretFile } from './secret.mjs';
import { startServer } from './server.mjs';
import { BridgeService } from './service.mjs';

export const EXIT = Object.freeze({ OK: 0, FAILURE: 1, CONFIG: 2, LOGGED_OUT: 3 });
export const MIN_NODE_MAJOR = 20;

/** Run the bridge; resolves to the exit code (see the module doc). */
export async function runBridge(argv, { openSession, stderr = process.stderr }) {
  const log = (level, text) => stderr.write(`whatsapp-bridge ${level}: ${text}\n`);
  const signals = signalled();
  let parts = null;
  try {
    const major = Number(process.versions.node.split('.')[0]);
    if (major < MIN_NODE_MAJOR) {
      throw new ConfigError(`Node.js >= ${MIN_NODE_MAJOR} is required (this is ${process.version})`);
    }
    process.umask(0o077);
    const options = parseBridgeArgs(argv);
    const key = readSecretFile(options.secretFile);
    await requireDirectory(options.workspace);
    const tls = options.tls === null ? null : await readTls(options.tls);
    await ensurePrivateDir(options.authDir, 'the auth directory');
    const pending = await PendingStore.open(options.stateDir, { log });
    const outcomes = await OutcomeLog.open(options.stateDir, { log });
    const session = await openSession({ ...options, log, stderr });
    parts = { session };
    const service = new BridgeService({
      session,
      pending,
      outcomes,
      workspace: options.workspace,
      maxFileBytes: options.maxFileBytes,
      log,
    });
    const stopped = Promise.race([signals.received, sessionEnded(session, log)]);
    const limiter = new FailedHandshakeLimiter({ now: Date.now });
    parts.server = await startServer({ listen: options.listen, tls, key, service, limiter, log });
    parts.service = service;
    log('info', `listening on ${describe(options.listen)}`);
    session.start();
    const code = await stopped;
    log('info', `stopping (exit code ${code})`);
    return code;
  } catch (error) {
    if (error instanceof ConfigError) {
      log('error', error.message);
      return EXIT.CONFIG;
    }
    log('error', error.stack ?? String(error));
    return EXIT.FAILURE;
  } finally {
    await shutdown(parts, log);
    signals.remove();
  }
}

/**
 * `received` resolves to 0 at the first SIGTERM or SIGINT (from the start, so a signal during
 * start-up stops the bridge as soon as it is up); the handlers are `once`, so a second signal
 * kills at once. `remove` uninstalls them.
 */
function signalled() {
  let onSignal;
  const received = new Promise((resolve) => {
    onSignal = () => resolve(EXIT.OK);
  });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return {
    received,
    remove() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** Resolves to the exit code when the session ends the bridge: a logout (3), a fatal error (1). */
function sessionEnded(session, log) {
  return new Promise((resolve) => {
    session.on('status', ({ state }) => {
      if (state === 'logged_out') resolve(EXIT.LOGGED_OUT);
    });
    session.on('fatal', (error) => {
      log('error', `the WhatsApp session failed: ${error.message}`);
      resolve(EXIT.FAILURE);
    });
  });
}

async function shutdown(parts, log) {
  if (parts === null) {
    return;
  }
  try {
    await parts.server?.close();
    await parts.session.close();
    await parts.service?.settled();
  } catch (error) {
    log('error', `while stopping: ${error.message}`);
  }
}

async function requireDirectory(path) {
  const info = await stat(path).catch((error) => {
    throw new ConfigError(`the workspace ${path} is not usable: ${error.code ?? error.message}`);
  });
  if (!info.isDirectory()) {
    throw new ConfigError(`the workspace ${path} is not a directory`);
  }
}

async function readTls({ cert, key }) {
  const read = (path, what) =>
    readFile(path).catch((error) => {
      throw new ConfigError(`the TLS ${what} ${path} cannot be read: ${error.code ?? error.message}`);
    });
  return { cert: await read(cert, 'certificate'), key: await read(key, 'key') };
}

function describe(listen) {
  if (listen.kind === 'unix') return `unix:${listen.path}`;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return `${listen.kind}://${host}:${listen.port}`;
}
