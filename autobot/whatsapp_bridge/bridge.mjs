#!/usr/bin/env node
/**
 * autobot's WhatsApp bridge (protocol version 2): keeps the WhatsApp Web session (Baileys)
 * and serves one authenticated client (the gateway) over a WebSocket.
 *
 *   node bridge.mjs --listen unix:/abs/path.sock|ws://127.0.0.1:PORT|wss://HOST:PORT
 *     --secret-file FILE --auth-dir DIR --state-dir DIR --workspace DIR --qr-png FILE
 *     --max-file-bytes N [--tls-cert FILE --tls-key FILE]
 *
 * Exit codes: 0 after SIGTERM/SIGINT, 2 refused arguments or configuration, 3 logged out
 * (link again: delete the auth directory), 1 anything else. The wiring is lib/run.mjs;
 * Baileys is loaded (lib/whatsapp.mjs) only once the configuration has been accepted.
 */
import { runBridge } from './lib/run.mjs';

const code = await runBridge(process.argv.slice(2), {
  openSession: async (options) => (await import('./lib/whatsapp.mjs')).openWhatsAppSession(options),
});
process.exit(code);
