/**
 * The Worker entry named by wrangler.jsonc (`main`). The Durable Object
 * classes (the coordinator pools and the directory) are exported from here,
 * as wrangler requires.
 */
import { createApp } from './app.ts';

export default createApp();
export { CoordinatorObject } from './coordinator-do.ts';
export { DirectoryObject } from './directory-do.ts';
