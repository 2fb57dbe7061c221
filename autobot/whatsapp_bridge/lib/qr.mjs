/**
 * The QR code of a first login, shown to the operator: printed on stderr as terminal art
 * (the managed bridge's stderr is the gateway's terminal) with one line saying what to do,
 * and written as a PNG (0600, atomically: atomic.mjs) for a terminal that cannot show it.
 * The payload itself is never logged.
 */
import QRCode from 'qrcode';

import { writeFileAtomic } from './atomic.mjs';

/**
 * Show `qr` on `stderr` and write it to `pngPath`. Resolves to `pngPath`, or null when the
 * PNG could not be written (reported through `log(level, text)`: the terminal art is enough).
 */
export async function showQr(qr, { stderr, pngPath, log }) {
  const art = await QRCode.toString(qr, { type: 'terminal', small: true });
  stderr.write(
    '\nLink autobot to WhatsApp: on your phone open WhatsApp > Settings > Linked devices > ' +
      `Link a device, and scan this code (also written to ${pngPath}):\n${art}\n`,
  );
  try {
    await writeFileAtomic(pngPath, await QRCode.toBuffer(qr, { type: 'png', margin: 2, scale: 8 }));
    return pngPath;
  } catch (error) {
    log('warn', `the QR code PNG could not be written to ${pngPath}: ${error.message}`);
    return null;
  }
}
