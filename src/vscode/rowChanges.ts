// Which rows of a tree to re-render: pure, so the rule is unit-tested without an editor.

/** The rows in display order, each with its parent's key (undefined at the top). */
export type RowShape = readonly (readonly [key: string, parent: string | undefined])[];

/**
 * 'all' when rows came, went or moved (VS Code must fetch the children again); otherwise the keys
 * of the rows whose rendering changed, parents before their children. A row whose parent is listed
 * is left out: re-rendering the parent fetches and draws its children too.
 */
export function changedRows(
  beforeShape: RowShape,
  before: ReadonlyMap<string, string>,
  afterShape: RowShape,
  after: ReadonlyMap<string, string>,
): 'all' | string[] {
  if (beforeShape.length !== afterShape.length) return 'all';
  for (let i = 0; i < afterShape.length; i++) {
    if (beforeShape[i][0] !== afterShape[i][0] || beforeShape[i][1] !== afterShape[i][1]) return 'all';
  }
  const changed = new Set<string>();
  for (const [key, parent] of afterShape) {
    if (before.get(key) === after.get(key)) continue;
    if (parent !== undefined && changed.has(parent)) continue;
    changed.add(key);
  }
  return [...changed];
}
