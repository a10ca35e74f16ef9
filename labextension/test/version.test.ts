import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LABEXTENSION_VERSION } from '../src/version';

describe('version', () => {
  it('matches package.json (the sidebar compares it with the server extension)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(LABEXTENSION_VERSION).toBe(pkg.version);
  });
});
