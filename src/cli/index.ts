/**
 * The `reqforge` command: run the gateway or the sandbox, call an upstream, inspect a token, check a config.
 * Each command lives in its own file under `commands/`; this file assembles them and turns every outcome into an
 * exit code and at most one line on stderr.
 * @packageDocumentation
 */
import { Command, CommanderError } from 'commander';
import { isHttpError, isInvalidOptionError, isReqforgeError } from '../core/errors.js';
import { isConfigError } from '../gateway/config.js';
import { VERSION } from '../version.js';
import { registerCall } from './commands/call.js';
import { registerCheck } from './commands/check.js';
import { registerGateway } from './commands/gateway.js';
import { registerGenerate } from './commands/generate.js';
import { registerSandbox } from './commands/sandbox.js';
import { registerToken } from './commands/token.js';
import { type CliIo, EXIT, explainConfigError, OutcomeError, oneLine, UsageError } from './io.js';

export { type CombinedSandbox, startCombinedSandbox } from './commands/sandbox.js';
export { type CliIo, EXIT } from './io.js';

/** Builds the commander program. Actions report their exit code through `setCode`. */
function program(io: CliIo, setCode: (code: number) => void): Command {
  const cmd = new Command('reqforge')
    .description('Resilient, authenticated, observable HTTP: gateway, sandbox and tools')
    .version(VERSION, '-v, --version', 'print the version')
    .showHelpAfterError('(run reqforge --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();
  registerGateway(cmd, io, setCode);
  registerSandbox(cmd, io, setCode);
  registerCall(cmd, io, setCode);
  registerToken(cmd, io, setCode);
  registerCheck(cmd, io, setCode);
  registerGenerate(cmd, io, setCode);
  return cmd;
}

function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stopSignal: () =>
      new Promise((done) => {
        const on = (signal: string) => {
          process.off('SIGTERM', on);
          process.off('SIGINT', on);
          done(signal);
        };
        process.once('SIGTERM', on);
        process.once('SIGINT', on);
      }),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/**
 * Runs the CLI with `argv` (as in `process.argv`) and returns the exit code. User mistakes print one
 * helpful message and no stack trace; set `REQFORGE_DEBUG=1` to see stacks of unexpected errors.
 */
export async function run(argv: readonly string[] = process.argv, io: CliIo = defaultIo()): Promise<number> {
  let code: number = EXIT.ok;
  const cmd = program(io, (c) => {
    code = c;
  });
  try {
    await cmd.parseAsync([...argv]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      if (error.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (isConfigError(error)) {
      explainConfigError(error, io);
      return EXIT.usage;
    }
    if (error instanceof OutcomeError) {
      io.stderr.write(`✗ ${oneLine(error.message)}\n`);
      return error.code;
    }
    if (error instanceof UsageError || isInvalidOptionError(error)) {
      io.stderr.write(`✗ ${oneLine((error as Error).message)}\n`);
      return EXIT.usage;
    }
    if (isReqforgeError(error)) {
      io.stderr.write(`✗ ${error.code}: ${oneLine(error.message)}\n`);
      return isHttpError(error) ? (error.status >= 500 ? EXIT.serverError : EXIT.clientError) : EXIT.failed;
    }
    const message = oneLine((error as Error)?.message ?? String(error));
    if (io.env.REQFORGE_DEBUG) io.stderr.write(`✗ ${message}\n${(error as Error)?.stack ?? ''}\n`);
    else io.stderr.write(`✗ ${message} (set REQFORGE_DEBUG=1 for details)\n`);
    return EXIT.internal;
  }
}
