/**
 * TF.js LayersModel files in the standard layout (model.json + weights.bin), written and read
 * with plain fs: tfjs's file:// handler exists only in tfjs-node, which cannot install here.
 */
import { writeFileAtomic } from '../../shared/files';
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import * as path from 'path';

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

/** Serialises a model to model.json text (weightsManifest -> 'weights.bin') and the weights' bytes. */
export async function modelArtifacts(model: tf.LayersModel): Promise<{ modelJson: string; weights: Uint8Array }> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured || !captured.weightSpecs || captured.weightData == null) throw new Error('model.save produced no weights');
  const json: tf.io.ModelJSON = {
    modelTopology: captured.modelTopology as {},
    format: captured.format ?? 'layers-model',
    generatedBy: captured.generatedBy,
    convertedBy: captured.convertedBy ?? null,
    weightsManifest: [{ paths: ['weights.bin'], weights: captured.weightSpecs }],
  };
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(captured.weightData));
  return { modelJson: JSON.stringify(json), weights };
}

/** Saves model.json + weights.bin (and any extra text files, e.g. labels.json) into `dir`. */
export async function saveModelDir(model: tf.LayersModel, dir: string, extraFiles: Record<string, string> = {}): Promise<void> {
  const { modelJson, weights } = await modelArtifacts(model);
  await fs.mkdir(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'weights.bin'), weights);
  for (const [name, text] of Object.entries(extraFiles)) writeFileAtomic(path.join(dir, name), text);
  writeFileAtomic(path.join(dir, 'model.json'), modelJson);
}

async function isDirectory(p: string): Promise<boolean> {
  return fs.stat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

function expectedBytes(spec: tf.io.WeightsManifestEntry): number | undefined {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const per = BYTES[spec.quantization?.dtype ?? spec.dtype];
  return per === undefined ? undefined : n * per;
}

/** Reads every weight file a manifest lists, checking their total size against the specs. */
async function readWeights(
  modelJsonPath: string,
  manifest: tf.io.WeightsManifestConfig,
): Promise<[tf.io.WeightsManifestEntry[], ArrayBuffer]> {
  const dir = path.dirname(modelJsonPath);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.resolve(dir, p);
      try {
        parts.push(await fs.readFile(file));
      } catch (e) {
        throw new Error(`cannot read weight file ${file} listed in ${modelJsonPath}: ${(e as Error).message}`);
      }
    }
  }
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const sizes = specs.map(expectedBytes);
  if (sizes.every((s) => s !== undefined)) {
    const want = (sizes as number[]).reduce((a, b) => a + b, 0);
    if (want !== total) throw new Error(`weight files of ${modelJsonPath} hold ${total} bytes, its weightsManifest describes ${want}`);
  }
  const joined = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    joined.set(p, off);
    off += p.byteLength;
  }
  return [specs, joined.buffer];
}

/** Loads a TF.js LayersModel from its model.json (or a folder holding one) and weight files; errors name the file at fault. */
export async function loadModelDir(modelJsonPath: string): Promise<tf.LayersModel> {
  if (await isDirectory(modelJsonPath)) modelJsonPath = path.join(modelJsonPath, 'model.json');
  let text: string;
  try {
    text = await fs.readFile(modelJsonPath, 'utf8');
  } catch (e) {
    throw new Error(`cannot read model file ${modelJsonPath}: ${(e as Error).message}`);
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`model file ${modelJsonPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || !json.modelTopology) {
    throw new Error(`model file ${modelJsonPath} has no modelTopology: not a TF.js LayersModel model.json`);
  }
  if (json.format && json.format !== 'layers-model') {
    throw new Error(
      `model file ${modelJsonPath} has format '${json.format}': only TF.js LayersModels (format 'layers-model') can be loaded`,
    );
  }
  const artifacts = await tf.io.getModelArtifactsForJSON(json, (manifest) => readWeights(modelJsonPath, manifest ?? []));
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new Error(`cannot build a LayersModel from ${modelJsonPath}: ${(e as Error).message}`);
  }
}
