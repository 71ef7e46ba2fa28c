/**
 * Every `tessera` subcommand. To add one (publish, serve, ocr, ...), write
 * `commands/<name>.ts` exporting a RegisterCommand and list it here.
 */
import type { RegisterCommand } from '../cli-context.ts';
import { registerGenerate } from './generate.ts';
import { registerOcr } from './ocr.ts';
import { registerPack } from './pack.ts';
import { registerPrepare } from './prepare.ts';
import { registerPublish } from './publish.ts';
import { registerServe } from './serve.ts';

export const COMMANDS: RegisterCommand[] = [registerPack, registerGenerate, registerPublish, registerOcr, registerServe, registerPrepare];
