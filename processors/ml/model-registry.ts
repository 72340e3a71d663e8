// File-system model registry:
//   <root>/<model_id>/model.json     tfjs layers topology + weights manifest
//   <root>/<model_id>/weights.bin    weights
//   <root>/<model_id>/metadata.json  ModelMetadata (written last: its presence marks a complete model)
//   <root>/active.json               { "<symbol>": { model_id, activated_at } }, one active model per symbol
import { access, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadModel, MODEL_FILES, readModelMetadata, saveModel, type HeldOutMetrics, type ModelMetadata, type TrainedModel } from './model.ts';

export interface ActiveModelEntry {
  model_id: string;
  activated_at: string;
}

export type ActiveModels = Record<string, ActiveModelEntry>;

const ACTIVE_FILE = 'active.json';
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class ModelRegistry {
  private readonly loaded = new Map<string, Promise<TrainedModel>>();
  private activeWrite: Promise<unknown> = Promise.resolve();

  constructor(readonly root: string) {}

  /** Folder of a model; rejects ids that could leave the root. */
  modelDir(modelId: string): string {
    if (!SAFE_ID.test(modelId)) throw new Error(`invalid model id: ${JSON.stringify(modelId)}`);
    return path.join(this.root, modelId);
  }

  async save(model: TrainedModel): Promise<string> {
    const dir = this.modelDir(model.metadata.model_id);
    await saveModel(model, dir);
    this.loaded.set(model.metadata.model_id, Promise.resolve(model));
    return dir;
  }

  /** Every complete model, newest first. */
  async list(): Promise<ModelMetadata[]> {
    let names: string[];
    try {
      names = (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && SAFE_ID.test(d.name)).map((d) => d.name);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    const all = await Promise.all(names.map((name) => this.get(name)));
    return all.filter((m): m is ModelMetadata => m !== null).sort((a, b) => b.created_at.localeCompare(a.created_at) || a.model_id.localeCompare(b.model_id));
  }

  async get(modelId: string): Promise<ModelMetadata | null> {
    try {
      return await readModelMetadata(this.modelDir(modelId));
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async getMetrics(modelId: string): Promise<HeldOutMetrics | null> {
    return (await this.get(modelId))?.metrics ?? null;
  }

  async exists(modelId: string): Promise<boolean> {
    try {
      await access(path.join(this.modelDir(modelId), MODEL_FILES.metadata));
      return true;
    } catch {
      return false;
    }
  }

  async listActive(): Promise<ActiveModels> {
    try {
      return JSON.parse(await readFile(path.join(this.root, ACTIVE_FILE), 'utf8')) as ActiveModels;
    } catch (error) {
      if (isNotFound(error)) return {};
      throw error;
    }
  }

  async getActive(symbol: string): Promise<ActiveModelEntry | null> {
    return (await this.listActive())[symbol] ?? null;
  }

  /** Make a model the one used for a symbol's predictions. */
  async setActive(symbol: string, modelId: string, now: Date = new Date()): Promise<ActiveModelEntry> {
    const metadata = await this.get(modelId);
    if (!metadata) throw new Error(`model ${modelId} not found`);
    if (!metadata.symbols.includes(symbol)) throw new Error(`model ${modelId} was trained on ${metadata.symbols.join(', ')}, not ${symbol}`);
    const entry: ActiveModelEntry = { model_id: modelId, activated_at: now.toISOString() };
    // Serialise read-modify-write within this process; the rename keeps readers from seeing a torn file.
    const write = this.activeWrite.then(async () => {
      const active = await this.listActive();
      active[symbol] = entry;
      await mkdir(this.root, { recursive: true });
      const tmp = path.join(this.root, `${ACTIVE_FILE}.${process.pid}.${Date.now()}.tmp`);
      await writeFile(tmp, JSON.stringify(active, null, 2));
      await rename(tmp, path.join(this.root, ACTIVE_FILE));
    });
    this.activeWrite = write.catch(() => undefined);
    await write;
    return entry;
  }

  /** A model ready for predict(); cached, since weights never change after save. */
  load(modelId: string): Promise<TrainedModel> {
    let cached = this.loaded.get(modelId);
    if (!cached) {
      cached = loadModel(this.modelDir(modelId));
      cached.catch(() => this.loaded.delete(modelId));
      this.loaded.set(modelId, cached);
    }
    return cached;
  }

  async loadActive(symbol: string): Promise<TrainedModel | null> {
    const active = await this.getActive(symbol);
    return active ? this.load(active.model_id) : null;
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error as { code: unknown }).code === 'ENOENT';
}
