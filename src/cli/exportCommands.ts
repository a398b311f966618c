// `export ansible [DIR]` and `verdict KIND`: the playbook the engine writes, and the engine's
// judgements the playbook asks for on the controller.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Cluster } from '../core/cluster/types';
import { exportAnsible, ExportRefusal } from '../core/export/ansible';
import { judgeBackup, judgeInstaller, judgeProcesses, judgeStopped, type Judgement } from '../core/export/verdicts';
import { UsageError, type CliArgs } from './args';

const EXIT_OF: Record<Judgement['kind'], number> = { ok: 0, failed: 1, blocked: 2 };

export function exportAnsibleTo(cluster: Cluster, args: CliArgs, homePath: (p: string) => string, out: (line: string) => void): number {
  const clusterDir = path.resolve(args.dir);
  const dir = path.resolve(clusterDir, args.exportDir ?? 'ansible');
  let files;
  try {
    files = exportAnsible(cluster, {
      clusterDir,
      node: process.execPath,
      cli: path.resolve(process.argv[1]),
      knownHosts: (args.knownHosts.length ? args.knownHosts : ['~/.ssh/known_hosts']).map((f) => path.resolve(homePath(f))),
      ...(args.sshConfig !== undefined ? { sshConfig: path.resolve(homePath(args.sshConfig)) } : {}),
      ...(args.ucdUser !== undefined ? { ucdUser: args.ucdUser } : {}),
      ...(args.ucdPasswordEnv !== undefined ? { ucdPasswordEnv: args.ucdPasswordEnv } : {}),
      ...(args.onlineWaitSeconds !== undefined ? { onlineWaitSeconds: args.onlineWaitSeconds } : {}),
    });
  } catch (e) {
    if (e instanceof ExportRefusal) throw new UsageError(`Nothing was written: ${e.message}`);
    throw e;
  }
  for (const f of files) {
    const target = path.join(dir, f.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // A new file each time: written beside, then renamed, so a half-written playbook never runs.
    fs.writeFileSync(`${target}.tmp`, f.text, { mode: f.mode });
    fs.chmodSync(`${target}.tmp`, f.mode);
    fs.renameSync(`${target}.tmp`, target);
  }
  out(`wrote ${files.length} files to ${dir}: ${files.map((f) => f.path).join(', ')}`);
  out(`run: cd ${dir} && ansible-playbook -i inventory.yml upgrade.yml`);
  return 0;
}

export function judge(cluster: Cluster, args: CliArgs, out: (line: string) => void, err: (line: string) => void): number {
  const stdin = fs.readFileSync(0, 'utf8');
  const need = <T>(v: T | undefined, flag: string): T => {
    if (v === undefined) throw new UsageError(`verdict ${args.verdict} needs --${flag}.`);
    return v;
  };
  let j: Judgement;
  switch (args.verdict) {
    case 'stopped':
      j = judgeStopped(cluster, need(args.node, 'node'), need(args.nonce, 'nonce'), stdin, args.exitCode ?? null);
      break;
    case 'backup':
      j = judgeBackup(stdin, { artifact: need(args.artifact, 'artifact'), where: need(args.where, 'where'), notBeforeMs: need(args.notBefore, 'not-before') * 1000, localNowMs: Date.now() });
      break;
    case 'processes':
      j = judgeProcesses(stdin);
      break;
    case 'installer':
      j = judgeInstaller(cluster, need(args.node, 'node'), stdin, args.exitCode);
      break;
    default:
      throw new UsageError('verdict needs a KIND.');
  }
  // --list: the data on stdout for the playbook, the words on stderr for a person.
  if (args.list) {
    out(JSON.stringify(j.data ?? null));
    for (const l of j.lines) err(l);
  } else for (const l of j.lines) out(l);
  return EXIT_OF[j.kind];
}
