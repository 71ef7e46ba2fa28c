/**
 * `tessera publish <pack-dir> --to <url>`: uploads the blobs the Worker's
 * bucket lacks (progress bar on stderr), then commits the revision, which
 * becomes current only once everything it names is stored.
 */
import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { TesseraError } from '../../errors.ts';
import { validateManifest, verifyRevision } from '../../pack/validate-manifest.ts';
import { publishPack, type PublishResult } from '../../pack/publish.ts';
import type { RegisterCommand } from '../cli-context.ts';
import { formatBytes } from '../parse-size.ts';

export const registerPublish: RegisterCommand = (program, context) => {
  program
    .command('publish')
    .description('upload a pack to a Tessera Worker (only the files it lacks) and make it the current revision')
    .argument('<pack-dir>', 'a folder written by "tessera pack" (manifest.json + files)')
    .requiredOption('--to <url>', 'the Worker, e.g. http://127.0.0.1:8787')
    .option('--token <token>', 'admin token (default: $TESSERA_ADMIN_TOKEN)')
    .option('--concurrency <n>', 'files uploaded at once', '3')
    .action(async (packDir: string, flags: { to: string; token?: string; concurrency: string }) => {
      const token = flags.token ?? process.env.TESSERA_ADMIN_TOKEN;
      if (token === undefined || token === '') {
        throw new TesseraError('invalid-argument', 'no admin token: pass --token or set TESSERA_ADMIN_TOKEN');
      }
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
        throw new TesseraError('invalid-argument', `--concurrency must be an integer from 1 to 32, got "${flags.concurrency}"`);
      }
      const bar = new SingleBar({
        stream: context.stderr,
        format: 'uploading {bar} {percentage}% | {doneH} / {totalH} | {file}',
        hideCursor: true,
        fps: 5,
      });
      let barStarted = false;
      const result = await publishDir(packDir, {
        baseUrl: flags.to,
        token,
        concurrency,
        onProgress: (event) => {
          if (event.type === 'plan' && event.missingBytes > 0) {
            bar.start(event.missingBytes, 0, { file: '', doneH: formatBytes(0), totalH: formatBytes(event.missingBytes) });
            barStarted = true;
          } else if (event.type === 'upload' && barStarted) {
            bar.update(event.loadedBytes, { file: event.path, doneH: formatBytes(event.loadedBytes), totalH: formatBytes(event.missingBytes) });
          }
        },
      }).finally(() => {
        if (barStarted) bar.stop();
      });
      context.stdout.write(
        `published ${result.name} revision ${result.revision} to ${flags.to}: ` +
          `uploaded ${result.uploadedFiles} file(s), ${formatBytes(result.uploadedBytes)}; ${result.skippedFiles} already stored\n`,
      );
    });
};

/**
 * Publishes the pack in `packDir`; the programmatic form of the command.
 *
 * @example
 * await publishDir('.packs/mlp', { baseUrl: 'http://127.0.0.1:8787', token });
 */
export async function publishDir(
  packDir: string,
  options: Omit<Parameters<typeof publishPack>[0], 'manifest' | 'readFile'>,
): Promise<PublishResult> {
  const manifestPath = join(packDir, 'manifest.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (error) {
    throw new TesseraError('invalid-argument', `cannot read ${manifestPath}: ${(error as Error).message}; is "${packDir}" a pack folder?`, { cause: error });
  }
  // Checked before reading (every path included): a hostile manifest must not make us upload files from outside the pack.
  const manifest = validateManifest(json, { source: manifestPath });
  await verifyRevision(manifest, manifestPath);
  return publishPack({ ...options, manifest, readFile: (path) => openAsBlob(join(packDir, path)) });
}
