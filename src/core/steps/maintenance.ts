// UCD's maintenance mode around the window (issue 12 item 4; 7.0.3 on, ucd-facts.md "REST"):
// turned on before step 2 drains the processes, so nothing new starts behind the drain, and off
// once step 11 proved every node on the target. Only with ucd.maintenanceMode in the cluster
// file; before 7.0.3 skipped with a note. Every outcome is a run-wide 'maintenance' journal event,
// and a claim of on or off is what GET /cli/systemConfiguration said after the write, never the
// write's own 204.
import { compareVersions } from '../cluster/version';
import type { MaintenanceOutcome } from '../journal/events';
import type { ActionContext } from '../runbook/actions';
import type { UcdRestClient } from '../ucd/rest/client';
import { UcdRestError } from '../ucd/rest/errors';
import { MAINTENANCE_KEY, maintenanceState, SYSTEM_CONFIG_READ_PATH, SYSTEM_CONFIG_WRITE_PATH } from '../ucd/rest/systemConfig';

/** The first release with maintenance mode. */
export const MAINTENANCE_SINCE = '7.0.3';

export type MaintenanceResult = { readonly ok: true } | { readonly ok: false; readonly evidence: string; readonly hint: string };

export interface MaintenanceDeps {
  client(): UcdRestClient;
}

const OK: MaintenanceResult = { ok: true };
const BY_HAND_ON = 'Turn maintenance mode on by hand (Settings > System Settings in the UCD web UI) and run step 2 again, or set "ucd.maintenanceMode": false in the cluster file to drain without it.';
const BY_HAND_OFF = 'Turn maintenance mode off by hand (Settings > System Settings in the UCD web UI): until then no deployment can start.';

function record(ctx: ActionContext, state: MaintenanceOutcome, detail: string): void {
  ctx.session.recordMaintenance(state, detail);
  (state === 'failed' ? ctx.log.error : ctx.log.info).call(ctx.log, `[ucd] maintenance mode ${state}: ${detail}`);
}

function failure(ctx: ActionContext, what: string, e: unknown, hint: string): MaintenanceResult {
  const why = e instanceof UcdRestError ? `${e.message} (${e.hint})` : (e as Error).message;
  const evidence = `${what}: ${why}`;
  record(ctx, 'failed', evidence);
  return { ok: false, evidence, hint };
}

/** Before step 2 drains: on, or a recorded reason why not. A failure means step 2 must not go on. */
export async function maintenanceOn(ctx: ActionContext, deps: MaintenanceDeps): Promise<MaintenanceResult> {
  const c = ctx.cluster;
  if (!c.ucd.maintenanceMode) return OK;
  if (compareVersions(c.currentVersion, MAINTENANCE_SINCE) < 0) {
    record(ctx, 'skipped', `UCD ${c.currentVersion} has no maintenance mode (it came with ${MAINTENANCE_SINCE}); step 2 drains the processes without it`);
    return OK;
  }
  const client = deps.client();
  let config;
  try {
    config = await client.systemConfiguration(ctx.signal);
  } catch (e) {
    return failure(ctx, `reading ${SYSTEM_CONFIG_READ_PATH} to turn maintenance mode on`, e, BY_HAND_ON);
  }
  const before = maintenanceState(config);
  if (before === 'absent') {
    const evidence = `${client.origin}${SYSTEM_CONFIG_READ_PATH} has no ${MAINTENANCE_KEY} although the cluster file says ${c.currentVersion}`;
    record(ctx, 'failed', evidence);
    return { ok: false, evidence, hint: BY_HAND_ON };
  }
  if (before === 'on') {
    const ours = ownOn(ctx);
    record(ctx, 'kept', ours ? `already on (turned on by this run at ${ours})` : 'already on before this run; it is left on after step 11 too, as whoever turned it on decides');
    return OK;
  }
  try {
    await client.setMaintenanceMode(config, true, ctx.signal);
    const after = maintenanceState(await client.systemConfiguration(ctx.signal));
    if (after !== 'on') {
      const evidence = `${SYSTEM_CONFIG_WRITE_PATH} accepted the change, but ${SYSTEM_CONFIG_READ_PATH} still says ${MAINTENANCE_KEY} is ${after}`;
      record(ctx, 'failed', evidence);
      return { ok: false, evidence, hint: BY_HAND_ON };
    }
  } catch (e) {
    return failure(ctx, `turning maintenance mode on through ${SYSTEM_CONFIG_WRITE_PATH}`, e, BY_HAND_ON);
  }
  record(ctx, 'on', `turned on at ${client.origin} before draining the processes (${MAINTENANCE_KEY} read back true)`);
  return OK;
}

/** This run's own 'on' not yet undone: when it was turned on, else undefined. */
function ownOn(ctx: ActionContext): string | undefined {
  let on: string | undefined;
  for (const e of ctx.session.maintenanceEvents()) {
    if (e.state === 'on') on = e.ts;
    else if (e.state === 'off') on = undefined;
  }
  return on;
}

/** After step 11 proved every node: off again, but only what this run turned on. */
export async function maintenanceOff(ctx: ActionContext, deps: MaintenanceDeps): Promise<MaintenanceResult> {
  if (!ctx.cluster.ucd.maintenanceMode) return OK;
  const ours = ownOn(ctx);
  if (!ours) {
    // Nothing of ours to undo (skipped, on before the run, or off already): said once, not per Run.
    const last = ctx.session.maintenanceEvents().at(-1);
    if (last?.state === 'off') return OK;
    const detail = 'left as it was after step 11: this run did not turn it on';
    if (last?.detail !== detail) record(ctx, 'kept', detail);
    return OK;
  }
  const client = deps.client();
  try {
    const config = await client.systemConfiguration(ctx.signal);
    const now = maintenanceState(config);
    if (now === 'off') {
      record(ctx, 'off', `already off after step 11 (turned off outside this run since ${ours})`);
      return OK;
    }
    await client.setMaintenanceMode(config, false, ctx.signal);
    const after = maintenanceState(await client.systemConfiguration(ctx.signal));
    if (after !== 'off') {
      const evidence = `${SYSTEM_CONFIG_WRITE_PATH} accepted the change, but ${SYSTEM_CONFIG_READ_PATH} still says ${MAINTENANCE_KEY} is ${after}`;
      record(ctx, 'failed', evidence);
      return { ok: false, evidence, hint: BY_HAND_OFF };
    }
  } catch (e) {
    return failure(ctx, `turning maintenance mode off through ${SYSTEM_CONFIG_WRITE_PATH}`, e, BY_HAND_OFF);
  }
  record(ctx, 'off', `turned off at ${client.origin} after step 11 verified every node (on since ${ours}; ${MAINTENANCE_KEY} read back false)`);
  return OK;
}
