import { ConfigError } from '../../shared/errors.js';

/**
 * The ConfigError `fn` throws; any other error is rethrown, and no error at
 * all fails the test.
 *
 * @example
 * expect(configError(() => loadProxyConfig(file)).message).toContain('policy.type');
 */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}
