/**
 * `tessera pack <model.onnx | hf-folder> --out <dir>`: writes a pack with a
 * progress bar on stderr and a summary on stdout.
 */
import { SingleBar } from 'cli-progress';
import { packModel } from '../../pack/pack-model.ts';
import type { RegisterCommand } from '../cli-context.ts';
import { formatBytes, parseSize } from '../parse-size.ts';

export const registerPack: RegisterCommand = (program, context) => {
  program
    .command('pack')
    .description('turn an ONNX model or a Hugging Face-style folder into a pack (manifest.json + files)')
    .argument('<input>', 'an .onnx file (with or without external data) or a model folder')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--chunk-size <size>', 'chunk size, e.g. 8MiB', '8MiB')
    .option('--name <name>', 'model name (default: from the input)')
    .option('--max-file-size <size>', 'largest file in the pack (default 2 GiB - 1)')
    .option('--min-external <size>', 'inline initializers at least this big move to external data', '1KiB')
    .option('--no-externalize', 'keep inline weights inside the .onnx')
    .action(async (input: string, flags: { out: string; chunkSize: string; name?: string; maxFileSize?: string; minExternal: string; externalize: boolean }) => {
      const chunkSize = parseSize(flags.chunkSize, '--chunk-size');
      const maxFileSize = flags.maxFileSize === undefined ? undefined : parseSize(flags.maxFileSize, '--max-file-size');
      const minBytes = parseSize(flags.minExternal, '--min-external');
      const bar = new SingleBar(
        {
          stream: context.stderr,
          format: 'packing {bar} {percentage}% | {doneH} / {totalH} | {rateH}/s | ETA {eta_formatted} | {file}',
          hideCursor: true,
          etaBuffer: 50,
          fps: 5,
        },
        undefined,
      );
      const started = Date.now();
      let barStarted = false;
      const { manifest, manifestPath } = await packModel(input, {
        out: flags.out,
        chunkSize,
        name: flags.name,
        maxFileSize,
        minBytes,
        externalize: flags.externalize,
        onProgress: ({ file, bytesDone, bytesTotal }) => {
          const seconds = Math.max((Date.now() - started) / 1000, 0.001);
          const payload = { file, doneH: formatBytes(bytesDone), totalH: formatBytes(bytesTotal), rateH: formatBytes(Math.round(bytesDone / seconds)) };
          if (!barStarted) {
            bar.start(bytesTotal, bytesDone, payload);
            barStarted = true;
          }
          bar.setTotal(bytesTotal);
          bar.update(bytesDone, payload);
        },
      }).finally(() => {
        if (barStarted) bar.stop();
      });
      const seconds = (Date.now() - started) / 1000;
      const chunks = manifest.files.reduce((n, f) => n + f.chunks.length, 0);
      const lines = [
        `packed ${manifest.name} (revision ${manifest.revision}): ${manifest.files.length} files, ${formatBytes(manifest.totalBytes)}, ${chunks} chunks of ${formatBytes(manifest.chunkSize)} in ${seconds.toFixed(1)} s`,
        ...manifest.files.map((f) => `  ${f.role.padEnd(13)} ${formatBytes(f.size).padStart(10)}  ${f.path}`),
        `manifest: ${manifestPath}`,
      ];
      context.stdout.write(`${lines.join('\n')}\n`);
    });
};
