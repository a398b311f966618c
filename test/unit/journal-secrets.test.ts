import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Journal } from '../../src/core/journal/journal';
import { credentialsFor } from '../../src/core/ucd/rest/client';
import { maskingAuthPrompt, maskingCredentials, maskingSecretSource, SecretValues } from '../../src/core/journal/secrets';
import type { SecretSource } from '../../src/core/remote/interaction';

function journalWith(values: SecretValues): { j: Journal; text: () => string } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-secrets-')), 'j.jsonl');
  const j = Journal.open(file, values.mask);
  return { j, text: () => fs.readFileSync(file, 'utf8') };
}
const note = (j: Journal, text: string) => j.append({ type: 'confirmed', ts: '2026-12-01T10:00:00Z', step: 'backup', note: text });

test('a UCD password read from the credential source is masked from then on, also as the Basic header value', async () => {
  const values = new SecretValues();
  const { j, text } = journalWith(values);
  const origin = 'https://ucd.example.test:8443';
  const source = maskingCredentials(credentialsFor(origin, { kind: 'basic', user: 'admin', password: 'Ucd-Pa55!' }), values);
  note(j, 'before: Ucd-Pa55!');
  assert.match(text(), /before: Ucd-Pa55!/, 'nothing is masked before the secret was read (the mask is live, not a copy)');
  const creds = (await source.get(origin))?.credentials;
  assert.deepEqual(creds, { kind: 'basic', user: 'admin', password: 'Ucd-Pa55!' }, 'the caller gets the credential unchanged');
  const header = Buffer.from('admin:Ucd-Pa55!').toString('base64');
  note(j, `after: Ucd-Pa55! and Basic ${header}`);
  const last = text().trim().split('\n').at(-1)!;
  assert.ok(!last.includes('Ucd-Pa55') && !last.includes(header), last);
  assert.match(last, /after: \*\*\* and Basic \*\*\*/);
});

test('an SSH password and hidden keyboard-interactive answers are masked; echoed answers are not secrets', async () => {
  const values = new SecretValues();
  const prompt = maskingAuthPrompt({ password: async () => 'ssh-pw-123', keyboardInteractive: async () => ['visible-user', 'otp-998877'] }, values);
  assert.equal(await prompt.password({ node: 'ucd1', user: 'u', host: 'h', port: 22 }), 'ssh-pw-123');
  await prompt.keyboardInteractive({ node: 'ucd1', name: '', instructions: '', prompts: [{ prompt: 'User', echo: true }, { prompt: 'Code', echo: false }] });
  assert.deepEqual(values.mask(), ['ssh-pw-123', 'otp-998877']);
});

test('a key passphrase from the keychain, asked, or stored is masked', async () => {
  const values = new SecretValues();
  const store = new Map<string, string>([['k1', 'from-keychain']]);
  const inner: SecretSource = {
    get: async (k) => store.get(k),
    store: async (k, v) => void store.set(k, v),
    delete: async (k) => void store.delete(k),
    ask: async () => 'typed-passphrase',
  };
  const s = maskingSecretSource(inner, values);
  assert.equal(await s.get('k1'), 'from-keychain');
  assert.equal(await s.get('missing'), undefined);
  assert.equal(await s.ask('passphrase?'), 'typed-passphrase');
  await s.store('k2', 'stored-passphrase');
  assert.equal(store.get('k2'), 'stored-passphrase');
  assert.deepEqual(values.mask(), ['from-keychain', 'typed-passphrase', 'stored-passphrase']);
});
