// What the Dashboard shows as running: GET /rest/workflow/currentActivity, parsed tolerantly.
//
// /rest/* is the UI's own API and drifts between versions, so this parser takes only the fields it
// needs, ignores the rest, and never fails on a missing optional field. The shape assumed here was
// read from the public UrbanCode/UCADF-Core-Library, which calls this endpoint:
//   action/ucd/workflow/UcdGetWorkflowActivity.groovy   GET /rest/workflow/currentActivity → a JSON
//                                                        array (optional ?parentRequestId=)
//   model/ucd/workflow/UcdWorkflowProcessRequest.groovy  each item is typed by "processRequestType":
//                                                        "application" | "component" | "generic"
//   model/ucd/applicationProcessRequest/UcdApplicationProcessRequest.groovy (application items):
//       id, traceId, userName, startTime (epoch ms), submittedTime, state, result, paused,
//       application {id, name}, applicationProcess {id, name}, environment {id, name}
//   model/ucd/genericProcessRequest/UcdGenericProcessRequest.groovy (generic items):
//       id, workflowTraceId, userName, startTime, submittedTime, state, result, paused,
//       process {id, name}, processPath
//   model/ucd/componentProcessRequest/UcdComponentProcessRequest.groovy (component items):
//       traceId, userName, startTime, parentRequestId, application, environment, agent, ...
//   action/ucd/workflow/UcdCancelWorkflow.groovy  PUT /rest/workflow/{id}/cancel with an empty JSON
//       body; UcdCancelApplicationProcesses passes the item's traceId, UcdCancelGenericProcesses its
//       workflowTraceId — so the cancel id is traceId for application/component, workflowTraceId
//       for generic.
// All of this is UCADF's reading of the product, not a documented contract; hence the tolerance.

export type ProcessKind = 'application' | 'component' | 'generic' | 'other';

export interface RunningProcess {
  readonly kind: ProcessKind;
  /** processRequestType exactly as the server sent it (shown when kind is 'other'). */
  readonly rawType: string;
  /** The process request id, when the server sent one. */
  readonly id?: string;
  /** The id PUT /rest/workflow/{id}/cancel takes; undefined when the item carries none. */
  readonly cancelId?: string;
  /** One line for a person: "<application> / <process> (<environment>)" or the generic process name. */
  readonly name: string;
  readonly application?: string;
  readonly process?: string;
  readonly environment?: string;
  /** Start (or, failing that, submit) time as epoch milliseconds. */
  readonly startedMs?: number;
  readonly by?: string;
  readonly state?: string;
}

export type ActivityParse =
  | { readonly ok: true; readonly items: readonly RunningProcess[]; readonly skipped: number }
  | { readonly ok: false; readonly problem: string };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
const nameOf = (v: unknown): string | undefined => (isObj(v) ? str(v.name) : undefined);

function epochMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v === 'string' && v !== '') {
    const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  }
  return undefined;
}

function kindOf(raw: string): ProcessKind {
  return raw === 'application' || raw === 'component' || raw === 'generic' ? raw : 'other';
}

export function parseActivityItem(v: unknown): RunningProcess | undefined {
  if (!isObj(v)) return undefined;
  const rawType = str(v.processRequestType) ?? '';
  const kind = kindOf(rawType);
  const application = nameOf(v.application);
  const environment = nameOf(v.environment);
  const process = nameOf(v.applicationProcess) ?? nameOf(v.process) ?? nameOf(v.componentProcess) ?? str(v.name);
  // Generic requests carry workflowTraceId; the others traceId. Either may appear on a newer server.
  const cancelId = kind === 'generic' ? str(v.workflowTraceId) ?? str(v.traceId) : str(v.traceId) ?? str(v.workflowTraceId);
  const id = str(v.id);
  let name: string;
  if (application && process) name = `${application} / ${process}`;
  else name = process ?? application ?? id ?? cancelId ?? '(unnamed)';
  if (environment) name += ` (${environment})`;
  const startedMs = epochMs(v.startTime) ?? epochMs(v.submittedTime);
  const by = str(v.userName) ?? str(v.loginName);
  const state = str(v.state);
  return {
    kind, rawType, name,
    ...(id !== undefined ? { id } : {}),
    ...(cancelId !== undefined ? { cancelId } : {}),
    ...(application !== undefined ? { application } : {}),
    ...(process !== undefined ? { process } : {}),
    ...(environment !== undefined ? { environment } : {}),
    ...(startedMs !== undefined ? { startedMs } : {}),
    ...(by !== undefined ? { by } : {}),
    ...(state !== undefined ? { state } : {}),
  };
}

/** Accepts the documented array, or an object wrapping it (records/items) as some UI endpoints do. */
export function parseCurrentActivity(body: string): ActivityParse {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'the answer is not JSON' };
  }
  const list = Array.isArray(json) ? json : isObj(json) && Array.isArray(json.records) ? json.records : isObj(json) && Array.isArray(json.items) ? json.items : undefined;
  if (!list) return { ok: false, problem: 'the answer is JSON but not a list of process requests' };
  const items: RunningProcess[] = [];
  let skipped = 0;
  for (const v of list) {
    const item = parseActivityItem(v);
    if (item) items.push(item);
    else skipped++;
  }
  return { ok: true, items, skipped };
}

/**
 * What blocks the upgrade: the doc names application and generic processes. Component processes run
 * inside an application process and go when it is cancelled. An unknown type is kept (a newer server
 * may name a kind we do not know; listing it is safer than hiding it).
 */
export function blockingProcesses(items: readonly RunningProcess[]): RunningProcess[] {
  return items.filter((p) => p.kind !== 'component');
}

/** One line for the output channel and the journal's evidence. */
export function describeProcess(p: RunningProcess): string {
  const kind = p.kind === 'other' ? (p.rawType || 'unknown type') : p.kind;
  const parts = [`${kind}: ${p.name}`];
  if (p.startedMs !== undefined) parts.push(`started ${new Date(p.startedMs).toISOString()}`);
  if (p.by) parts.push(`by ${p.by}`);
  if (p.state) parts.push(p.state);
  return parts.join(', ');
}
