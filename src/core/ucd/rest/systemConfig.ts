// UCD's system settings, for the maintenance-mode switch (7.0.3 on; ucd-facts.md "REST"): read with
// the documented GET /cli/systemConfiguration, written with the UI's PUT /rest/system/configuration,
// which takes the whole map (a partial one is refused) and answers 204. So a write is always the
// map just read with one key changed, and the flag is read back before anything is claimed.

export const SYSTEM_CONFIG_READ_PATH = '/cli/systemConfiguration';
export const SYSTEM_CONFIG_WRITE_PATH = '/rest/system/configuration';
export const MAINTENANCE_KEY = 'maintenanceModeEnabled';

/** The settings exactly as the server sent them: every key is written back unchanged. */
export type SystemConfiguration = Readonly<Record<string, unknown>>;

export type SystemConfigParse =
  | { readonly ok: true; readonly config: SystemConfiguration }
  | { readonly ok: false; readonly problem: string };

export function parseSystemConfiguration(body: string): SystemConfigParse {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'the answer is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, problem: 'the answer is not a map of settings' };
  return { ok: true, config: value as SystemConfiguration };
}

/** on / off as the server states it; 'absent': this server has no maintenance mode (before 7.0.3). */
export type MaintenanceState = 'on' | 'off' | 'absent';

export function maintenanceState(config: SystemConfiguration): MaintenanceState {
  const v = config[MAINTENANCE_KEY];
  if (v === true || v === 'true') return 'on';
  if (v === false || v === 'false') return 'off';
  return 'absent';
}

/** The whole map with the flag set: what PUT /rest/system/configuration needs. */
export function withMaintenance(config: SystemConfiguration, on: boolean): SystemConfiguration {
  return { ...config, [MAINTENANCE_KEY]: on };
}
