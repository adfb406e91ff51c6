/** The flags of the small from-scratch runs that process-level tests (and the kill stress script) train. */

export interface SmallRun {
  data: string;
  size?: number;
  bs?: number;
  backend?: string;
  epochs?: number;
  /** Omitted: fine_tune's default (one frozen epoch). */
  freezeEpochs?: number;
}

/** `--data D --size 16 --bs 8 --backend wasm --no-pretrained --epochs 1`, each settable. */
export function smallRunFlags(run: SmallRun): string[] {
  const { data, size = 16, bs = 8, backend = 'wasm', epochs = 1, freezeEpochs } = run;
  const flags = [
    '--data',
    data,
    '--size',
    String(size),
    '--bs',
    String(bs),
    '--backend',
    backend,
    '--no-pretrained',
    '--epochs',
    String(epochs),
  ];
  return freezeEpochs === undefined ? flags : [...flags, '--freeze-epochs', String(freezeEpochs)];
}
