// The command line's report is the editor's: the same Markdown, printed or saved with --out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { CLUSTER_FILE_NAME, loadCluster } from '../../src/core/cluster/load';
import { RunSession } from '../../src/core/runbook/session';
import { VALID_CLUSTER } from '../fixtures/clusters';

test('report --out saves the change record (decisions, timings, outage) and says where; without it, it prints', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucd-report-cli-'));
  fs.writeFileSync(path.join(dir, CLUSTER_FILE_NAME), VALID_CLUSTER);
  const r = loadCluster(VALID_CLUSTER);
  if (!r.ok) throw new Error('fixture');
  const s = RunSession.open(r.cluster, dir);
  const id = s.begin({ step: 'processes' }, 'run');
  s.decided({ kind: 'cancel-processes', processes: ['application: JPetStore / Deploy (PROD)'] }, { step: 'processes' });
  s.finish(id, { step: 'processes' }, 'run', 'passed', ['no application or generic process running']);
  s.dispose();

  const file = path.join(dir, 'change-record.md');
  const said: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => (said.push(String(chunk)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(['report', '--dir', dir, '--out', file]);
  } finally {
    process.stderr.write = write;
  }
  assert.equal(code, 0, said.join(''));
  assert.deepEqual(said, [`report saved to ${file}\n`]);
  const md = fs.readFileSync(file, 'utf8');
  assert.match(md, /^\| This report \| `.*change-record\.md` \|$/m);
  assert.match(md, /## Decisions[\s\S]*cancelled in UCD: application: JPetStore \/ Deploy \(PROD\)/);
  assert.match(md, /^\| 2 \| Ensure no application or generic processes are running \| 2 \| passed \| \d{4}-\d\d-\d\d [\d:]+ [+-]\d\d:\d\d \|/m);
  assert.match(md, /^\| Outage \| no outage recorded/m);

  const printed: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (printed.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    assert.equal(await main(['report', '--dir', dir]), 0);
  } finally {
    process.stdout.write = out;
  }
  assert.match(printed.join(''), /## Decisions[\s\S]*JPetStore/);
  assert.ok(!printed.join('').includes('| This report |'), 'a printed report names no file');
});
