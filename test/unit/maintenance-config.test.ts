// The system settings map as the maintenance-mode switch reads and writes it: the flag read in both
// spellings the API may use, absent before 7.0.3, and a write that keeps every other setting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maintenanceState, parseSystemConfiguration, withMaintenance } from '../../src/core/ucd/rest/systemConfig';

test('the flag: on, off, or absent (a server before 7.0.3)', () => {
  assert.equal(maintenanceState({ maintenanceModeEnabled: true }), 'on');
  assert.equal(maintenanceState({ maintenanceModeEnabled: 'false' }), 'off');
  assert.equal(maintenanceState({ externalURL: 'https://x' }), 'absent');
  assert.equal(maintenanceState({ maintenanceModeEnabled: 'maybe' }), 'absent');
});

test('the write is the whole map with one key changed', () => {
  const map = { externalURL: 'https://ucd', cleanupDaysToKeep: -1, maintenanceModeEnabled: false };
  assert.deepEqual(withMaintenance(map, true), { externalURL: 'https://ucd', cleanupDaysToKeep: -1, maintenanceModeEnabled: true });
  assert.equal(map.maintenanceModeEnabled, false, 'the map read is not changed');
});

test('an answer that is not a map is a protocol problem, named', () => {
  assert.deepEqual(parseSystemConfiguration('[1]'), { ok: false, problem: 'the answer is not a map of settings' });
  assert.deepEqual(parseSystemConfiguration('<html>'), { ok: false, problem: 'the answer is not JSON' });
  assert.deepEqual(parseSystemConfiguration('{"a":1}'), { ok: true, config: { a: 1 } });
});
