import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { databasePrerequisites, startDatabase } from './mariadb';

const skip = databasePrerequisites();

test('the test database holds the UCD schema version, and a mysqldump of it restores', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-db-'));
  const db = await startDatabase({ dir: path.join(dir, 'db'), bindAddress: '127.0.0.1', port: 33061, ucdVersion: '7.0.5.0' });
  try {
    assert.deepEqual(await db.schemaVersions(), ['7.0.5.0 1']);
    const dump = path.join(dir, 'ucd.sql');
    execFileSync('/bin/sh', ['-c', `mariadb-dump --defaults-extra-file='${db.optionFile}' --single-transaction ucd > '${dump}'`]);
    assert.match(fs.readFileSync(dump, 'utf8'), /CREATE TABLE `ds_db_version`/);
    await db.query("INSERT INTO ds_db_version VALUES ('7.1.2.0', 2)");
    assert.equal((await db.schemaVersions()).length, 2);
    // Restore the dump: the row added after the backup is gone again.
    execFileSync('/bin/sh', ['-c', `mariadb --defaults-extra-file='${db.optionFile}' ucd < '${dump}'`]);
    assert.deepEqual(await db.schemaVersions(), ['7.0.5.0 1']);
  } finally {
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
