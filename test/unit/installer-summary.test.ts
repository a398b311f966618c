import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeTranscript } from '../../src/core/ucd/installer/summary';
import { ANT_START, COPYING, DIR_PROMPT, ECHO, FIRST_NODE, INSTALL_DIR_PROMPT, NOTICE, OTHER_NODE, SCHEMA, SUCCESS, converse } from '../fixtures/installer/transcripts';

const CLUSTER = { currentVersion: '7.0.5.0', targetVersion: '7.1.2.0' };
const NODE = { name: 'ucd1', installDir: '/opt/ucd/server', os: 'linux' as const };
const CTX = { cluster: CLUSTER, node: NODE, mode: 'guided' as const, notice: { kind: 'answer' as const, note: 'NOTICE acknowledged: proven in this run' } };

test('summary: the first node upgraded the schema, from the version it found to the target', () => {
  const { transcript } = converse(FIRST_NODE, { ...CTX, quietMs: 3000 });
  assert.deepEqual(summarizeTranscript(transcript, CTX, 0), {
    kind: 'upgraded',
    from: '7.0.5.0.1050384',
    to: '7.1.2.0',
    schemaUpgraded: true,
    handedOver: false,
  });
});

test('summary: another node upgraded without touching the schema', () => {
  const { transcript } = converse(OTHER_NODE, { ...CTX, quietMs: 3000 });
  const o = summarizeTranscript(transcript, { ...CTX, node: { ...NODE, name: 'ucd2' } }, 0);
  assert.equal(o.kind, 'upgraded');
  assert.equal(o.kind === 'upgraded' && o.schemaUpgraded, false);
});

test('summary: a transcript whose installer never ended is not an upgrade, even with every prompt answered', () => {
  const { transcript } = converse(FIRST_NODE.slice(0, 11), { ...CTX, quietMs: 3000 });
  const o = summarizeTranscript(transcript, CTX);
  assert.equal(o.kind, 'aborted');
  assert.match(o.kind === 'aborted' ? o.message : '', /not finished/);
});

test('summary: a transcript that stops at an unknown question was handed over', () => {
  const t = DIR_PROMPT + '/opt/ucd/server\r\n' + ANT_START + `${ECHO}Please ensure server process is stopped before continuing. (press enter to continue)\n`;
  const o = summarizeTranscript(t, CTX);
  assert.equal(o.kind, 'handed-over');
  assert.match(o.kind === 'handed-over' ? o.prompt : '', /press enter to continue/);
});

test('summary: handed over, then finished by the engineer in the terminal, is an upgrade', () => {
  const t =
    DIR_PROMPT + '/opt/ucd/server\r\n' + ANT_START +
    `${ECHO}Could not determine if server is running.\n${ECHO}Please ensure server process is stopped before continuing. (press enter to continue)\n`;
  const o1 = summarizeTranscript(t, CTX);
  assert.equal(o1.kind, 'handed-over');
  const o2 = summarizeTranscript(t + '\r\n' + NOTICE + '\r\n' + COPYING + SCHEMA + SUCCESS, CTX, 0);
  assert.equal(o2.kind, 'upgraded');
  assert.equal(o2.kind === 'upgraded' && o2.schemaUpgraded, true);
});

test('summary: a silent run has no upgrade question, so "from" is unknown', () => {
  const t = DIR_PROMPT + ANT_START + INSTALL_DIR_PROMPT() + NOTICE + COPYING + SCHEMA + SUCCESS;
  const o = summarizeTranscript(t, { ...CTX, mode: 'silent' }, 0);
  assert.deepEqual(o, { kind: 'upgraded', from: null, to: '7.1.2.0', schemaUpgraded: true, handedOver: false });
});
