/**
 * The Worker entry named by wrangler.jsonc (`main`). Durable Object classes
 * (the coordinator) will be exported from here too, as wrangler requires.
 */
import { createApp } from './app.ts';

export default createApp();
export { CoordinatorObject } from './coordinator-do.ts';
