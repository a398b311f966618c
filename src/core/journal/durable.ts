// The one way the run's files reach the disk: written, fsynced, and (for whole files) put in place
// by a rename or a link, so a reader sees the old content or the new, never half of either.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
  fs.fsyncSync(fd);
}

/** Appends and fsyncs before returning: the next step never starts ahead of its record. */
export function appendDurably(file: string, text: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    writeAll(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

function writeTemp(file: string, text: string): string {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    writeAll(fd, text);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

function syncDir(dir: string): void {
  // Makes the rename itself durable; not every platform can open a directory (Windows), which is fine.
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

/** Replaces `file` atomically (temp file, fsync, rename). */
export function replaceDurably(file: string, text: string): void {
  const tmp = writeTemp(file, text);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(path.dirname(file));
}

/**
 * Creates `file` with its full content in one step, or returns false if it already exists: a link
 * of a complete temp file, so no reader ever sees it empty and two creators cannot both win.
 */
export function createDurably(file: string, text: string): boolean {
  const tmp = writeTemp(file, text);
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  syncDir(path.dirname(file));
  return true;
}
