// SPDX-License-Identifier: Apache-2.0
// The state as a JSON file in `--state-dir`. Writes are atomic: temp file in the same directory, fsync,
// rename over the old file, fsync the directory (so the rename survives a power cut). File 0600, dir 0700:
// the file holds the WireGuard private key and API tokens.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { NexdError } from '../errors.js';
import { decodeState, encodeState, type State, validateState } from './state.js';
import type { StateStore } from './store.js';

export const STATE_FILE_NAME = 'state.json';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function ioError(action: string, path: string, err: unknown): NexdError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new NexdError('NEX_ERR_STATE_IO', `cannot ${action} ${path}: ${code}`, { cause: err });
}

export class FileStateStore implements StateStore {
  readonly dir: string;
  readonly location: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string, fileName = STATE_FILE_NAME) {
    this.dir = dir;
    this.location = join(dir, fileName);
  }

  async #readText(): Promise<string | undefined> {
    try {
      return await readFile(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError('read', this.location, err);
    }
  }

  async load(): Promise<State> {
    const text = await this.#readText();
    return text === undefined
      ? validateState({ version: 1 }, this.location)
      : decodeState(text, this.location);
  }

  save(state: State): Promise<void> {
    const run = this.#queue.then(() => this.#save(state));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #save(state: State): Promise<void> {
    // Validate what we are about to write with the same rules as reading, so we never store what we
    // could not load back.
    const text = encodeState(validateState(state, `${this.location} (new state)`));
    const existing = await this.#readText();
    // A corrupt file is evidence for the operator (and may hold the only copy of a key): refuse.
    if (existing !== undefined) decodeState(existing, this.location);
    try {
      await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    } catch (err) {
      throw ioError('create directory', this.dir, err);
    }
    const tmp = join(this.dir, `.${STATE_FILE_NAME}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'wx', FILE_MODE);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.location);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw ioError('write', this.location, err);
    }
    try {
      const dh = await open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch {
      // Some filesystems refuse fsync on a directory; the rename itself has already happened.
    }
  }
}
