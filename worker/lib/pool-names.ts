/**
 * The names that tie the Worker's routes to its Durable Objects, in a file
 * of their own so the pool object can use them without importing the
 * routes' client code (which imports the object's types).
 */

/** The Durable Object name of a model's pool. @example poolName('mlp'); // 'pool:mlp' */
export const poolName = (model: string): string => `pool:${model}`;

/** The directory's one object name. */
export const DIRECTORY_NAME = 'directory';

/** The header the session route sets on a socket's upgrade: the model the pool object serves (clients cannot set it: the route overwrites it). */
export const POOL_HEADER = 'X-Tessera-Pool';
