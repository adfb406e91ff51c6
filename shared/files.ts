/** Durable file writes: the one place ringtune writes files a crash must not leave half-written. */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'fs';

/** Writes `data` to `file` and fsyncs it before returning. */
export function writeFileSynced(file: string, data: Uint8Array | string): void {
  const fd = openSync(file, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes via a temporary name (synced) + rename, so a reader never sees half a file. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSynced(tmp, data);
  renameSync(tmp, file);
}
