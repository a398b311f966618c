// The UCD server installer's own wording: what `install-server.sh` prints, as the product prints
// it. This is the single place that documents it, so the driver's matchers (prompts.ts,
// refusals.ts) and the test simulator's installer (test/sim) are built from — or checked
// against — the same text. It documents the PRODUCT's words, never ours: do not "improve" them
// (the missing space in "upgrade(leave" and in ")and installation" is the product's).
//
// Sources (see /work/shared/ucd-facts.md, section "The installer"):
//  [facts]  ucd-facts.md, quoted word for word.
//  [script] the public copy of the 7.0.0.0 server installer scripts that ucd-facts.md cites
//           (install-server.sh and the Groovy installer it runs); used where ucd-facts.md
//           elides text with "..." or does not list a message.
//  [seed]   seed/upgrading-ha-installations.md.
//  [ant]    inferred: install-server.sh runs Apache Ant with its default logger, which prefixes
//           every echoed line with "     [echo] " and ends with "BUILD SUCCESSFUL" or "BUILD FAILED".
//
// Placeholders are written `{name}`; `renderProductText` fills them.

/** A product message: its full wording, and where it was read. */
export interface ProductText {
  readonly text: string;
  readonly source: string;
}

export const PROMPT_TEXTS = {
  /** Read by the shell script itself (`read`, without -r), before the Java part starts. */
  upgradeDirectory: {
    text: 'Enter the directory of the server to upgrade(leave blank for installing to a clean directory).',
    source: '[facts] prompt 1; [script] install-server.sh getJavaHome',
  },
  /** Also read by the shell; printed only when the directory has no bin/set_env. */
  javaHome: {
    text: 'Enter the home directory for the JRE/JDK that the new server or already installed server uses. Default [{javaHome}]:',
    source: '[facts] prompt 2; [script] install-server.sh promptForJavaHome',
  },
  /** {product} is "IBM UrbanCode Deploy" in 7.0.x; later releases print the HCL brand names. */
  installDirectory: {
    text: 'Enter the directory where the {product} should be installed. [Default: {defaultDir}]',
    source: '[facts] prompt 3',
  },
  upgradeConfirm: {
    text: 'A previous version ({version}) exists in the specified directory. Do you want to upgrade the currently installed version? Y,n [Default Y]',
    source: '[facts] prompt 4',
  },
  notice: {
    text:
      'NOTICE: Upgrading the server while there are processes currently running is not supported. ' +
      'Before proceeding with an upgrade, verify that there are no running processes on the Current Activity page.\n\n' +
      "Server upgrades cannot be rolled back. Please ensure that you have backed up the server's database and " +
      'filesystem before proceeding. (press enter to continue)',
    source: '[facts] prompt 5 (elided there); full wording from [script]',
  },
} as const satisfies Record<string, ProductText>;

export type PromptTextId = keyof typeof PROMPT_TEXTS;

/** Messages that end (or must end) the installer instead of upgrading. */
export const REFUSAL_TEXTS = {
  pidFile: {
    text: 'Found pid file at {pidFile}. Ensure {product} is shutdown, {pidFile} is removed , then start the installation again.',
    source: '[facts] "Found pid file at <path>. Ensure ... is shutdown, ... is removed"; rest from [script] (printed by Ant after "BUILD FAILED", prefixed with "<build file>:<line>: ")',
  },
  connection: {
    text:
      'A connection can be made to configured server host and port. This is a common scenario when going through a load balancer.' +
      'Please ensure ALL server processes are stopped before continuing. (press enter to continue)',
    // [facts] says this refusal ends the installer; in [script] (7.0.0.0) it is a prompt that
    // continues after Enter. The driver never presses Enter here, so either way the run stops.
    source: '[facts]; the trailing "(press enter to continue)" from [script]',
  },
  stillRunning: {
    text: 'A previously installed version of {product} is running. Please shutdown the running {product} and start the installation again.',
    source: '[seed] step 5 ({product} there: "HCL UrbanCode Deploy")',
  },
  versionMismatch: {
    text: 'Version mismatch between existing node ({existing})and installation ({target}).',
    source: '[facts] "Version mismatch between existing node (...)"; rest from [script]; followed by upgradeCanceled',
  },
  upgradeCanceled: {
    text: 'The upgrade is canceled.',
    source: '[facts]',
  },
  upgradeAborted: {
    text: 'Upgrade aborted.',
    source: '[facts] printed when the upgrade question is answered with anything but yes',
  },
  downgrade: {
    text:
      'WARNING: You appear to be downgrading from {from} to {to}. This is an unsupported operation. ' +
      'Are you sure you want to attempt this downgrade? [Type "yes" to confirm]',
    source: '[script] asked after the upgrade question when the package is older than the install',
  },
  installDirMissing: {
    text: 'The specified directory does not exist. Do you want to create it? Y,n [Default: Y]',
    source: '[script] asked when the install directory does not exist (for an upgrade: a wrong path)',
  },
  javaHomeMissing: {
    text: 'Could not find java home and one not specified.',
    source: '[script] install-server.sh loops on this, re-asking the directory prompt, until JAVA_HOME is set',
  },
} as const satisfies Record<string, ProductText>;

export type RefusalTextId = keyof typeof REFUSAL_TEXTS;

/** Lines that say what the upgrade did, without stopping it. */
export const INFO_TEXTS = {
  databaseUpgrades: {
    text: 'Found database upgrades, cancelling currently running processes',
    source: '[facts] printed by the node that upgrades the schema (the first node)',
  },
  noDatabaseUpgrades: {
    text: 'No database upgrades found, leaving processes running',
    source: '[script] printed instead of databaseUpgrades when the schema is already current (the other nodes)',
  },
} as const satisfies Record<string, ProductText>;

export type InfoTextId = keyof typeof INFO_TEXTS;

/** How Ant frames the Java part's output (see [ant] above). */
export const ANT_TEXTS = {
  echoPrefix: { text: '     [echo] ', source: '[ant]' },
  buildSuccessful: { text: 'BUILD SUCCESSFUL', source: '[ant]' },
  buildFailed: { text: 'BUILD FAILED', source: '[ant]' },
} as const satisfies Record<string, ProductText>;

/** Ant's copy task ("[copy] Copying 1289 files to …", the frame trimmed): the new files are being laid. */
export const LAYING_FILES = /^(?:\[copy\]\s*)?Copying\b/;

/**
 * Why the exit status cannot be trusted: install-server.sh's last command is an `export`, so the
 * script exits 0 even when Ant failed or the Groovy part called System.exit(1) ([script]).
 * Success is proven by `BUILD SUCCESSFUL` in the output, never by the exit code alone.
 */
export const EXIT_STATUS_IS_UNRELIABLE = true;

/** The brand names the product has printed as {product}. */
export const PRODUCT_NAMES = ['IBM UrbanCode Deploy', 'HCL UrbanCode Deploy', 'HCL Launch', 'HCL DevOps Deploy'] as const;

/** Fills `{name}` placeholders; a missing value is an error so a simulator cannot print "{x}". */
export function renderProductText(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for {${name}} in installer text: ${template.slice(0, 60)}`);
    return v;
  });
}

/**
 * The order the upgrade path asks its questions in ([facts]). javaHome only when the directory
 * has no bin/set_env; the first two are printed by the shell (plain lines), the rest by the Java
 * part through Ant (framed by `frameAntEcho`).
 */
export const UPGRADE_PROMPT_ORDER: readonly PromptTextId[] = ['upgradeDirectory', 'javaHome', 'installDirectory', 'upgradeConfirm', 'notice'];

/** A Java-part message as Ant's default logger prints it: every line framed by "[echo]". */
export function frameAntEcho(text: string): string {
  return text
    .split('\n')
    .map((line) => ANT_TEXTS.echoPrefix.text + line)
    .join('\n');
}
