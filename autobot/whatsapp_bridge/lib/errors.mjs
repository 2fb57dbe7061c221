/**
 * The bridge's own error types.
 *
 * `ConfigError`: a refused command line or configuration (bad argument, a listen address
 * off loopback without TLS, a secret file readable by others...). `runBridge` turns it into
 * one line on stderr and exit code 2; nothing has been started when it is raised.
 */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }
}
