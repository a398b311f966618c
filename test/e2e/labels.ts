// The runbook rows' labels as the tree shows them, from the same function the tree uses: one
// place for every e2e file, so a change of the labels cannot leave a test looking for an old one.
import { stepLabel } from '../../src/core/runbook/rowText';
import { STEPS, type StepId } from '../../src/core/runbook/steps';

/** "5. Prove stopped": the label of the step's row. */
export function label(id: StepId): string {
  const i = STEPS.findIndex((s) => s.id === id);
  if (i < 0) throw new Error(`no step ${id}`);
  return stepLabel({ number: i + 1, def: STEPS[i] });
}

/** Every step's label, in the tree's order. */
export const LABELS: readonly string[] = STEPS.map((s) => label(s.id));
