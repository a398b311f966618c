// The window's secrets in use: every source of a secret adds to it (trust.ts), and the run journal
// masks with it (controller.ts). One set per extension host, that is, per window.
import { SecretValues } from '../core/journal/secrets';

export const secretsInUse = new SecretValues();
