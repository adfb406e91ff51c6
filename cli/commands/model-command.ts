/** What `evaluate`, `export` and `predict` share: each reads a saved model and computes on a tfjs backend. */
import { Command } from 'commander';
import { backendOption } from '../flags';

/** How a saved-model command describes itself and its two shared flags. */
export interface ModelCommandHelp {
  description: string;
  /** What --model may name; default: a training output folder or an exported one. */
  model?: string;
  /** What --backend computes; default: 'tfjs backend'. */
  backend?: string;
}

/** A subcommand on a saved model: its description, `--model <dir>` (required) and `--backend`. */
export function modelCommand(name: string, help: ModelCommandHelp): Command {
  return new Command(name)
    .description(help.description)
    .requiredOption('--model <dir>', help.model ?? 'a training output folder or an exported model folder')
    .addOption(backendOption(help.backend ?? 'tfjs backend'));
}
