// Picks the TensorFlow.js backend at run time: tfjs-node (native libtensorflow) when it is
// installed and loads, else the wasm backend, else the pure-JS cpu backend. tfjs-node is an
// optional dependency whose installer downloads a native library, so it is often absent.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tfjs from '@tensorflow/tfjs';

export type Tf = typeof tfjs;
export type TfBackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface LoadedTf {
  tf: Tf;
  backend: TfBackendName;
}

export interface LoadTfOptions {
  /**
   * Skip backends before this one in the order tensorflow > wasm > cpu (e.g. 'cpu' forces the
   * pure-JS backend). Only the first call of a process (or worker thread) decides.
   */
  prefer?: TfBackendName;
}

const ORDER: readonly TfBackendName[] = ['tensorflow', 'wasm', 'cpu'];

let loading: Promise<LoadedTf> | undefined;

/** The tfjs namespace with a ready backend. Cached per thread: later calls get the same answer. */
export function loadTf(options: LoadTfOptions = {}): Promise<LoadedTf> {
  loading ??= pickBackend(options.prefer ?? 'tensorflow');
  return loading;
}

async function pickBackend(prefer: TfBackendName): Promise<LoadedTf> {
  const candidates = ORDER.slice(ORDER.indexOf(prefer));
  for (const name of candidates) {
    if (await tryBackend(name)) return { tf: tfjs, backend: name };
  }
  throw new Error(`no tfjs backend could be initialised (tried ${candidates.join(', ')})`);
}

async function tryBackend(name: TfBackendName): Promise<boolean> {
  try {
    if (name === 'tensorflow') {
      // A non-literal specifier keeps the type checker from requiring the optional package.
      const specifier = '@tensorflow/tfjs-node';
      await import(specifier);
    } else if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
      // The .wasm binaries sit beside the package's main file in dist/; the prefix needs a trailing slash.
      wasm.setWasmPaths(path.dirname(entry) + path.sep);
    }
    const ok = await tfjs.setBackend(name);
    await tfjs.ready();
    return ok && tfjs.getBackend() === name;
  } catch {
    return false;
  }
}
