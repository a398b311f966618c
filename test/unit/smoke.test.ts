import { test } from 'node:test';
import assert from 'node:assert/strict';
test('node --test finds compiled tests', () => { assert.equal(1 + 1, 2); });
