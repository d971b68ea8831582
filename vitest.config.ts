import ts from 'typescript';
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * Test files that use standard (TC39) decorators, such as the `@client` class form, are compiled by TypeScript:
 * Vite's own transformer keeps decorators as they are, which Node 20 cannot run.
 */
function tc39Decorators(): Plugin {
  return {
    name: 'reqforge-tc39-decorators',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('.test.ts') || !/^\s*@\w+\(/m.test(code)) return undefined;
      const out = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          verbatimModuleSyntax: true,
          sourceMap: true,
        },
      });
      return out.sourceMapText === undefined
        ? out.outputText
        : { code: out.outputText, map: out.sourceMapText };
    },
  };
}

export default defineConfig({
  plugins: [tc39Decorators()],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
