/**
 * `ringtune export`: a self-contained TensorFlow.js model folder for browsers: model.json +
 * weights.bin (a standard LayersModel ending in a softmax, so `tf.loadLayersModel` and
 * `model.predict` give class probabilities), labels.json and preprocessing.json.
 */
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { promises as fs } from 'fs';
import { join, resolve } from 'path';
import { modelArtifacts } from '../../worker/models/io';
import { selectBackend } from '../../worker/backend';
import type { BackendChoice } from '../../shared/config';
import { modelCommand } from './model-command';
import { EXPORT_SOFTMAX_LAYER, disposeClassifier, loadClassifier, preprocessingFor } from '../../worker/inference';

/** Every `class_name` in a model topology (layers, initializers, constraints, ...). */
export function topologyClassNames(topology: unknown): string[] {
  const seen = new Set<string>();
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o !== null && typeof o === 'object') {
      const cls = (o as { class_name?: unknown }).class_name;
      if (typeof cls === 'string') seen.add(cls);
      Object.values(o).forEach(walk);
    }
  };
  walk(topology);
  return [...seen].sort();
}

/**
 * Classes in the topology that plain TensorFlow.js cannot build. ringtune registers no classes
 * of its own, so tfjs's serialization registry here is exactly what a browser's tfjs knows.
 */
export function unknownClasses(topology: unknown): string[] {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  return topologyClassNames(topology).filter((c) => !(c in known));
}

/** Writes one file through a temporary name. */
async function put(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

/** Exports the model in `modelDir` (training output or export) to `outDir`; returns the files written. */
export async function exportModel(modelDir: string, outDir: string): Promise<string[]> {
  if (resolve(modelDir) === resolve(outDir)) throw new Error(`--out ${outDir} is the model folder itself: export to a new folder`);
  const clf = await loadClassifier(modelDir);
  let withSoftmax: tf.LayersModel | null = null;
  try {
    const probs = tf.layers
      .activation({ activation: 'softmax', name: EXPORT_SOFTMAX_LAYER })
      .apply(clf.model.outputs[0]) as tf.SymbolicTensor;
    withSoftmax = tf.model({ inputs: clf.model.inputs, outputs: probs, name: 'ringtune' });
    const { modelJson, weights } = await modelArtifacts(withSoftmax);
    const unknown = unknownClasses(JSON.parse(modelJson).modelTopology);
    if (unknown.length)
      throw new Error(
        `${join(modelDir, 'model.json')} uses classes plain TensorFlow.js does not know (${unknown.join(', ')}): it cannot be exported for tf.loadLayersModel`,
      );
    await fs.mkdir(outDir, { recursive: true }).catch((e: Error) => {
      throw new Error(`cannot create export folder ${outDir}: ${e.message}`);
    });
    const files = {
      'weights.bin': weights,
      'labels.json': JSON.stringify(clf.labels, null, 2) + '\n',
      'preprocessing.json': JSON.stringify(preprocessingFor(clf.size, clf), null, 2) + '\n',
      'model.json': modelJson, // last: a folder with model.json is complete
    };
    for (const [name, data] of Object.entries(files)) await put(join(outDir, name), data);
    return Object.keys(files).map((f) => join(outDir, f));
  } finally {
    // The softmax wrapper shares every layer with clf.model; disposing the classifier frees them.
    disposeClassifier(clf);
  }
}

/** The parsed flags of `ringtune export`. */
interface ExportFlags {
  model: string;
  out: string;
  backend: BackendChoice;
}

/** The `export` subcommand (commander); `write` receives what is printed. */
export function exportCommand(write: (line: string) => void = (l) => console.log(l)): Command {
  return modelCommand('export', {
    description:
      'write a self-contained TensorFlow.js model (model.json, weights.bin, labels.json, preprocessing.json) that loads with tf.loadLayersModel',
    model: 'a training output folder (model.json, weights.bin, labels.json, config.json)',
    backend: 'tfjs backend used while exporting',
  })
    .requiredOption('--out <dir>', 'the folder to write the exported model to')
    .action(async (opts: ExportFlags) => {
      await selectBackend(opts.backend);
      const files = await exportModel(opts.model, opts.out);
      write(`exported ${opts.model} to ${opts.out}: ${files.map((f) => f.slice(opts.out.length).replace(/^[\\/]/, '')).join(', ')}`);
    });
}
