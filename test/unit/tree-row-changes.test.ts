import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedRows, type RowShape } from '../../src/vscode/rowChanges';

const shape: RowShape = [['backup', undefined], ['stop', undefined], ['stop@ucd1', 'stop'], ['stop@ucd2', 'stop'], ['installFirst', undefined]];
const sigs = (over: Record<string, string> = {}) => new Map(shape.map(([k]) => [k, over[k] ?? `${k}: pending`]));

test('nothing drawn differently: no row is re-rendered (the freshness tick redraws nothing)', () => {
  assert.deepEqual(changedRows(shape, sigs(), shape, sigs()), []);
});

test('one node changed: only that row, not its step or the other steps (their buttons stay)', () => {
  assert.deepEqual(changedRows(shape, sigs(), shape, sigs({ 'stop@ucd2': 'passed' })), ['stop@ucd2']);
});

test('a step and its node changed: the step only, since re-rendering it draws its nodes', () => {
  assert.deepEqual(changedRows(shape, sigs(), shape, sigs({ stop: 'running', 'stop@ucd1': 'running', installFirst: 'ready' })), ['stop', 'installFirst']);
});

test('a row that came, went or moved: everything is fetched again', () => {
  const fewer = shape.filter(([k]) => k !== 'stop@ucd2');
  assert.equal(changedRows(shape, sigs(), fewer, sigs()), 'all');
  const moved: RowShape = [shape[1], shape[0], ...shape.slice(2)];
  assert.equal(changedRows(shape, sigs(), moved, sigs()), 'all');
  const reparented: RowShape = shape.map(([k, p]) => (k === 'stop@ucd2' ? [k, 'backup'] : [k, p]));
  assert.equal(changedRows(shape, sigs(), reparented, sigs()), 'all');
  assert.equal(changedRows([], new Map(), shape, sigs()), 'all');
});
