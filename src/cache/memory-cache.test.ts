import { describeModelCache } from '../../test/helpers/cache-contract.ts';
import { createMemoryCache } from './memory-cache.ts';

describeModelCache('memory cache', async () => createMemoryCache());
