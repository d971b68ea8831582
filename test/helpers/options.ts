import { isInvalidOptionError } from '../../src/core/errors.js';
import { type ConfigError, isConfigError } from '../../src/gateway/config.js';

/** Runs `fn`, which must throw an InvalidOptionError, and returns its option path and message. */
export function refusal(fn: () => unknown): { option: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isInvalidOptionError(error)) return { option: error.option, message: error.message };
    throw error;
  }
  throw new Error('expected an InvalidOptionError');
}

/** Runs `fn`, which must throw a gateway ConfigError, and returns its issues. */
export function configIssues(fn: () => unknown): ConfigError['issues'] {
  try {
    fn();
  } catch (error) {
    if (isConfigError(error)) return error.issues;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
